import Foundation
import VideoMeter

/// The one instant the whole suite runs at, so that no test depends on the day, the month or the
/// machine's zone it runs in.
///
/// The rule (README, "Testing"): an in-process ledger runs on a clock that starts here (manual, or
/// ``running`` where holds must age in real time), and every process a test starts gets
/// ``environment(at:)`` (`VIDEOMETER_NOW`), so it sees the same date and month as the test.
public enum TestClock {
    /// 2026-11-21T10:00:00Z: a Saturday in the middle of a 30-day month, 10:00 in UTC, 23:00 in
    /// Pacific/Kiritimati (UTC+14) and 07:00 in America/Santiago (UTC-3): the same local day in each.
    public static let iso = "2026-11-21T10:00:00Z"
    public static let start: Date = CatalogDate.parse(iso)!
    /// The month that contains ``start`` in every zone the suite runs under.
    public static let month = "2026-11"

    /// The suite's running clock: it read ``start`` when the test process first asked for it and
    /// runs on at the machine's rate, so processes started one after another see time go forward.
    public static let running = OffsetWallClock(startingAt: start)

    /// What a process a test starts needs to run on the test's clock: `VIDEOMETER_NOW` set to
    /// `instant`, by default the suite clock's ``running`` reading now.
    public static func environment(at instant: Date? = nil) -> [String: String] {
        ["VIDEOMETER_NOW": CatalogDate.format(instant ?? running.now(), fractionalSeconds: true)]
    }

    /// The suite's running clock (``running``): in-process ledgers that must age in real time use
    /// it, on the same timeline as the processes the test starts.
    public static func runningWallClock() -> OffsetWallClock { running }

    /// A clock stopped at ``start`` until the test moves it.
    public static func manualWallClock(at instant: Date = start) -> ManualWallClock {
        ManualWallClock(instant)
    }
}
