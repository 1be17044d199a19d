/// Bounds how many server fixtures (a gateway and its emulated upstreams) the suite runs at once.
///
/// Swift Testing starts every test case at once, and each fixture holds listening sockets, client
/// connections and a ledger file: a parameterised suite of a hundred cases kept 3,500 descriptors
/// open in the test process. Foundation's `Process.run()` walks every open descriptor of the
/// process when it launches a child and has crashed there (a bad pointer in its memmove) past
/// about 1,360 of them. Waiting for a slot keeps the process far below that, and costs nothing in
/// time on a 2-core machine, where the cases queue for the cores anyway.
public actor ServerSlots {
    /// The slots of the whole test process.
    public static let shared = ServerSlots(limit: 16)

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
