import Hummingbird
import VideoMeter

/// An upstream API the emulator can speak: its routes, and how its generations move through time.
///
/// Styles are values, not cases: each seller's emulator routes declare their style beside them
/// (`EmulatorStyle.blockrun` in BlockRunRoutes.swift, `.worldrouter` in WorldRouterRoutes.swift),
/// and the seller registry (VideoMeterSellers) names the style of each seller. Adding a seller adds
/// a file; it edits no switch here.
public struct EmulatorStyle: Sendable, Hashable, CustomStringConvertible {
    /// The name `videometer emulate --style` takes and `/_emulator/stats` reports.
    public let name: String
    /// How the API delivers: `.sync` holds the request open until the video exists; `.async`
    /// creates a task that is queued for the first third of the latency, running until it has
    /// elapsed, then terminal.
    public let delivery: APIStyle
    /// The prefix of the ids the emulator hands out (`task_`, `vid_`).
    public let idPrefix: String
    let registerRoutes: @Sendable (EmulatorState, Router<EmulatorRequestContext>) -> Void

    /// - Parameter registerRoutes: adds the style's routes, which share the emulator's state
    ///   (tasks, faults, stats).
    init(name: String, delivery: APIStyle, idPrefix: String, registerRoutes: @escaping @Sendable (EmulatorState, Router<EmulatorRequestContext>) -> Void) {
        self.name = name
        self.delivery = delivery
        self.idPrefix = idPrefix
        self.registerRoutes = registerRoutes
    }

    public var description: String { name }

    public static func == (lhs: EmulatorStyle, rhs: EmulatorStyle) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}
