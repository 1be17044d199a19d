import Foundation

/// A source of wall-clock time, injected wherever VideoMeter stamps, expires or dates something.
///
/// Production code uses ``SystemWallClock``; tests use ``ManualWallClock`` and advance it instead
/// of sleeping.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The machine's clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock whose time can be controlled in a deterministic manner.
public final class ManualWallClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    public init(_ start: Date) { current = start }

    public func now() -> Date {
        lock.lock(); defer { lock.unlock() }
        return current
    }

    public func advance(by seconds: TimeInterval) {
        lock.lock(); defer { lock.unlock() }
        current = current.addingTimeInterval(seconds)
    }

    public func set(_ date: Date) {
        lock.lock(); defer { lock.unlock() }
        current = date
    }
}

/// A clock that reads a chosen instant when it is made and then runs at the rate of another clock.
///
/// This is what a process runs on when `VIDEOMETER_NOW` names its start: a test pins the date its
/// subprocesses see (so a month or a day does not depend on when the suite runs), while holds
/// still age and expire at the real rate.
public struct OffsetWallClock: WallClock {
    private let base: any WallClock
    private let offset: TimeInterval

    public init(startingAt start: Date, base: any WallClock = SystemWallClock()) {
        self.base = base
        self.offset = start.timeIntervalSince(base.now())
    }

    public func now() -> Date { base.now().addingTimeInterval(offset) }
}
