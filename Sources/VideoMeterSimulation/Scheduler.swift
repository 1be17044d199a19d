import Foundation

/// Runs the simulation's jobs one at a time: a job runs until it waits on something the simulator
/// controls (an upstream answer, a sleep in virtual time) or ends, and only then does the
/// simulator take its next step.
///
/// Every job is a real Swift task running the real metering code; what makes the run a function of
/// the seed is that at most one of them is ever runnable: the others are parked on continuations
/// that only the simulator resumes, in an order it draws from the seed. A job's own awaits (ledger
/// commits on the group-commit thread, `shielded` tasks) are sequential, so they cannot race.
final class Scheduler: @unchecked Sendable {
    /// What a parked job waits for.
    enum Wait: Sendable {
        /// An answer from the upstream.
        case upstream(UpstreamCall)
        /// Virtual time to reach this instant (seconds since 1970).
        case sleep(until: Int64)
    }

    /// How a parked job is resumed.
    enum Wake: Sendable {
        case answer(UpstreamAnswer)
        case woken
        /// The job's process has died: the job must not reach the upstream or the ledger again.
        case crashed
    }

    /// The job the current task runs for (inherited by the tasks it starts).
    @TaskLocal static var currentJob: Int?

    private struct Parked {
        var wait: Wait
        var continuation: UnsafeContinuation<Wake, Never>
    }

    private let lock = NSLock()
    private var parked: [Int: Parked] = [:]
    private var results: [Int: String] = [:]
    /// The simulator, waiting for the job it started or resumed to park or end.
    private var driver: UnsafeContinuation<Void, Never>?

    // MARK: - Job side

    /// Parks the current job until the simulator resumes it.
    func park(_ wait: Wait) async -> Wake {
        guard let job = Self.currentJob else { preconditionFailure("only a simulation job can wait on the simulated world") }
        return await withUnsafeContinuation { continuation in
            let driver = lock.withLock {
                parked[job] = Parked(wait: wait, continuation: continuation)
                defer { self.driver = nil }
                return self.driver
            }
            driver?.resume()
        }
    }

    private func end(_ job: Int, result: String) {
        let driver = lock.withLock {
            results[job] = result
            defer { self.driver = nil }
            return self.driver
        }
        driver?.resume()
    }

    // MARK: - Simulator side

    /// Starts `job` and returns once it has parked or ended.
    func start(_ job: Int, _ body: @escaping @Sendable () async -> String) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            lock.withLock { driver = continuation }
            Task {
                let result = await Self.$currentJob.withValue(job) { await body() }
                self.end(job, result: result)
            }
        }
    }

    /// Resumes a parked job with `wake` and returns once it has parked again or ended.
    func resume(_ job: Int, with wake: Wake) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let parked = lock.withLock {
                driver = continuation
                return self.parked.removeValue(forKey: job)
            }
            guard let parked else { preconditionFailure("job \(job) is not parked") }
            parked.continuation.resume(returning: wake)
        }
    }

    /// What `job` waits for, if it is parked.
    func wait(of job: Int) -> Wait? { lock.withLock { parked[job]?.wait } }

    /// The parked jobs, by id.
    var parkedJobs: [Int] { lock.withLock { parked.keys.sorted() } }

    /// The result of an ended job, taken once.
    func takeResult(of job: Int) -> String? { lock.withLock { results.removeValue(forKey: job) } }
}
