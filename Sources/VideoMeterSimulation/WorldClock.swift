import Foundation
import VideoMeter

/// The simulation's one wall clock: virtual time in whole seconds, moved only by the simulator.
/// The ledgers and metered clients of every simulated process read it.
final class WorldClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Int64

    init(seconds: Int64) { current = seconds }

    /// Seconds since 1970.
    var seconds: Int64 { lock.withLock { current } }

    func now() -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }

    /// Moves time forward to `instant` (never back).
    func advance(to instant: Int64) {
        lock.withLock { current = max(current, instant) }
    }

    /// `seconds` as ISO 8601 in UTC, for the event log (without a formatter: the log writes one
    /// per step).
    static func format(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
