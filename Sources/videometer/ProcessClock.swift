import ArgumentParser
import Foundation
import VideoMeter

/// The wall clock every command prices, stamps, dates and expires with: the machine's, or one that
/// starts at the instant `VIDEOMETER_NOW` names and runs on from there at the machine's rate.
///
/// Tests set `VIDEOMETER_NOW` on every process they start, so a subprocess sees the test's date
/// and month whatever day the suite runs on (README, "Testing"). It is also a way to rehearse a
/// month boundary against a copy of a ledger. Never set it on a production gateway.
///
/// `VIDEOMETER_CLOCK=frozen` (with `VIDEOMETER_NOW`) keeps the clock at that instant for the whole
/// command: what tests use where a figure depends on the exact instant (a forecast's run rate),
/// and a way to ask "what would `budget show` say at 18:00?" of a copy of a ledger.
enum ProcessClock {
    static let variable = "VIDEOMETER_NOW"
    static let modeVariable = "VIDEOMETER_CLOCK"

    /// The process's clock; ``validate(environment:)`` has refused a malformed value before any
    /// command runs, so the fallback to the machine's clock is never taken silently.
    static let shared: any WallClock = (try? make(environment: ProcessInfo.processInfo.environment)) ?? SystemWallClock()

    /// The clock `environment` asks for.
    static func make(environment: [String: String], base: any WallClock = SystemWallClock()) throws -> any WallClock {
        let mode = environment[modeVariable] ?? ""
        guard ["", "running", "frozen"].contains(mode) else {
            throw ValidationError("\(modeVariable) '\(mode.prefix(40))' is not 'running' or 'frozen'.")
        }
        guard let text = environment[variable], !text.isEmpty else {
            if mode == "frozen" { throw ValidationError("\(modeVariable)=frozen needs \(variable), the instant to stay at.") }
            return base
        }
        guard let start = CatalogDate.parse(text) else {
            throw ValidationError(
                "\(variable) '\(text.prefix(40))' is not an ISO 8601 instant such as 2026-11-21T10:00:00Z; unset it to use the machine's clock.")
        }
        return mode == "frozen" ? ManualWallClock(start) : OffsetWallClock(startingAt: start, base: base)
    }

    /// Refuses a malformed `VIDEOMETER_NOW` before a command does anything.
    static func validate(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        _ = try make(environment: environment)
    }

    /// Now, on the process's clock.
    static func now() -> Date { shared.now() }
}
