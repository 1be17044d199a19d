/// Bounds how many heavy fixtures the suite runs at once: server fixtures (a gateway and its
/// emulated upstreams) and simulations (a seed's ledgers and simulated processes).
///
/// Swift Testing starts every test case at once, and each fixture holds listening sockets, client
/// connections and a ledger file: a parameterised suite of a hundred cases kept 3,500 descriptors
/// open in the test process, and the simulator's sweep starts 200 seeds at once. Foundation's `Process.run()` walks every open descriptor of the
/// process when it launches a child and has crashed there (a bad pointer in its memmove) past
/// about 1,360 of them. Waiting for a slot keeps the process far below that, and costs nothing in
/// time on a 2-core machine, where the cases queue for the cores anyway.
public actor TestSlots {
    /// The gateway fixtures' slots.
    public static let servers = TestSlots(limit: 16)
    /// The simulations' slots: each seed opens several ledgers (a few descriptors and a commit
    /// thread each) and keeps both cores busy, so a few at a time run as fast as two hundred.
    public static let simulations = TestSlots(limit: 4)

    /// Set inside ``withSlot(_:)``: a fixture nested in another reuses its slot instead of waiting
    /// for one that the waiting outer fixtures might all hold.
    @TaskLocal static var holding = false

    private let limit: Int
    private var inUse = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(limit: Int) {
        precondition(limit > 0, "a limit of at least one slot")
        self.limit = limit
    }

    /// Runs `body` once a slot is free, and frees it afterwards (also when `body` throws).
    public nonisolated func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        if Self.holding { return try await body() }
        await acquire()
        do {
            let result = try await Self.$holding.withValue(true) { try await body() }
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }

    private func acquire() async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            inUse -= 1
        } else {
            // The slot passes straight to the first waiter.
            waiters.removeFirst().resume()
        }
    }
}
