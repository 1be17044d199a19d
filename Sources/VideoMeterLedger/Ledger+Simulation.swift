import Foundation
import GRDB
import Logging
import VideoMeter

/// A rule the deterministic simulator (`videometer-sim --inject`) breaks on purpose, to prove that
/// its checks can fail.
///
/// Reachable only through `@_spi(Simulation) import`: the shipped `videometer` binary and the
/// gateway never import that SPI, and every public initializer leaves the system without a bug.
@_spi(Simulation) public enum InjectedBug: String, Sendable, CaseIterable {
    /// The ledger posts a hold that is already posted: a terminal task settled twice.
    case doublePost = "double-post"
    /// The ledger grants a hold without checking any limit.
    case ignoreLimit = "ignore-limit"
    /// The metered client leaves the hold of a failed, cancelled or expired task pending.
    case skipVoid = "skip-void"
    /// The metered client does not write the upstream task id before polling.
    case loseTaskID = "lose-task-id"
}

/// The life of one simulated metering process, as its ledger sees it: once dead, every write the
/// process attempts fails with ``SimulatedCrash`` and reaches no database, as if the process had
/// been killed with SIGKILL just before it.
///
/// The simulator kills a process at once (``kill()``) or arms a crash at its n-th next write
/// (``crash(atWrite:)``), so a crash can fall between any two writes of the metering loop.
@_spi(Simulation) public final class ProcessLife: @unchecked Sendable {
    private let lock = NSLock()
    private var dead = false
    private var writesLeft: Int?

    public init() {}

    /// Whether the process has died.
    public var isDead: Bool { lock.withLock { dead } }

    /// Kills the process now.
    public func kill() { lock.withLock { dead = true } }

    /// Kills the process when it attempts its `write`-th next write (1: the very next one), which
    /// does not happen.
    public func crash(atWrite write: Int) {
        precondition(write >= 1, "a crash is armed for a write to come")
        lock.withLock { writesLeft = write }
    }

    /// Takes back an armed crash that has not happened yet.
    public func disarm() { lock.withLock { writesLeft = nil } }

    /// Called before every write: throws once the process is dead.
    func admitWrite() throws {
        try lock.withLock {
            if let left = writesLeft {
                if left <= 1 {
                    dead = true
                    writesLeft = nil
                } else {
                    writesLeft = left - 1
                }
            }
            if dead { throw SimulatedCrash() }
        }
    }
}

/// A write refused because the simulated process attempting it has died.
@_spi(Simulation) public struct SimulatedCrash: Error, Equatable, CustomStringConvertible {
    public init() {}
    public var description: String { "the simulated process has crashed" }
}

extension Ledger {
    /// Opens the ledger at `path` for the simulator: `bug` breaks one of the ledger's rules
    /// (``InjectedBug/doublePost`` or ``InjectedBug/ignoreLimit``; the others are the metered
    /// client's), and `life` lets the simulator crash the process that owns this instance.
    @_spi(Simulation) public convenience init(
        path: String, clock: any WallClock, logger: Logger, injecting bug: InjectedBug?, life: ProcessLife?
    ) throws {
        try self.init(path: path, clock: clock, logger: logger, busyTimeout: 30, bug: bug, life: life)
    }

    /// The bug this instance was opened with, if any.
    @_spi(Simulation) public var injectedBug: InjectedBug? { bug }
}

extension Ledger {
    /// The hold with that id, read in the caller's transaction: the simulator's oracle reads
    /// holds after every step, in the same way as the ledger does.
    @_spi(Simulation) public static func simulationHold(id: Int64, _ db: Database) throws -> Hold? {
        try hold(id: id, db)
    }

    /// The hold taken under an idempotency key, read in the caller's transaction.
    @_spi(Simulation) public static func simulationHold(idempotencyKey: String, _ db: Database) throws -> Hold? {
        try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold WHERE idempotencyKey = ?").firstRow([idempotencyKey], Hold.init(columns:))
    }
}
