/// A clock for waits and intervals, type-erased so that components can store the one they are
/// given: the continuous clock in production, a manual or virtual one in tests and the simulator.
///
/// Its instants count from when the erased clock was wrapped; only their differences mean anything.
public struct AnyClock: Clock, Sendable {
    public struct Instant: InstantProtocol, Sendable {
        /// Time since the wrapped clock's reading at wrapping.
        public var offset: Duration

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let reading: @Sendable () -> Duration
    private let sleeper: @Sendable (Duration, Duration?) async throws -> Void
    public let minimumResolution: Duration

    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        reading = { origin.duration(to: clock.now) }
        sleeper = { offset, tolerance in try await clock.sleep(until: origin.advanced(by: offset), tolerance: tolerance) }
        minimumResolution = clock.minimumResolution
    }

    /// The machine's monotonic clock (`ContinuousClock`): what production code waits on. One
    /// value, so that instants read from it anywhere in the process compare.
    public static let continuous = AnyClock(ContinuousClock())

    public var now: Instant { Instant(offset: reading()) }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try await sleeper(deadline.offset, tolerance)
    }
}
