/// Runs `body` in a task of its own and waits for it at most `timeout` on the machine's clock:
/// its result when it finished in time, else nil, and the task is cancelled and left to end by
/// itself. For shutdown steps that must not hang on a peer that stopped answering.
public func waitAtMost<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
    let race = Locked(WaitRace<T>())
    return await withCheckedContinuation { continuation in
        race.withLock { $0.waiter = continuation }
        // The first to finish answers and stops the other.
        let finish: @Sendable (T?) -> Void = { result in
            let (waiter, tasks) = race.withLock { race in
                defer { race.waiter = nil }
                return (race.waiter, race.tasks)
            }
            guard let waiter else { return }
            for task in tasks { task.cancel() }
            waiter.resume(returning: result)
        }
        let work = Task { finish(await body()) }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            finish(nil)
        }
        let finished = race.withLock { race in
            race.tasks = [work, timer]
            return race.waiter == nil
        }
        if finished { timer.cancel() }
    }
}

/// Who answers a ``waitAtMost(_:_:)``: the caller waiting, and the two tasks racing.
private struct WaitRace<T: Sendable> {
    var waiter: CheckedContinuation<T?, Never>?
    var tasks: [Task<Void, Never>] = []
}
