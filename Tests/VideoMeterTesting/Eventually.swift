import Foundation

/// A condition a test waited for did not come true in time.
public struct ConditionNotMet: Error, CustomStringConvertible {
    public let seconds: Int
    public var description: String { "condition not met within \(seconds) s" }
}

/// Re-checks `condition` every few milliseconds until it holds; throws ``ConditionNotMet`` after
/// `seconds`. A handshake, not a time window: a slow machine only waits longer.
public func eventually(seconds: Int = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    throw ConditionNotMet(seconds: seconds)
}
