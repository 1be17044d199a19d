import Foundation
import VideoMeterLedgerPostgres
#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP proxy in front of a PostgreSQL server that, once armed, cuts the connection that
/// carries the next `COMMIT` answer instead of relaying it: the server has committed (its
/// `CommandComplete` for `COMMIT` is only sent after the commit is durable), the client sees its
/// connection lost mid-transaction. This is what an immediate server shutdown between commit and
/// answer does, on demand. Everything else is relayed byte for byte; new connections work as before.
///
/// Blocking sockets and a thread per direction: a test tool for a handful of connections, started
/// with ``start(upstreamHost:upstreamPort:)`` and closed with ``stop()``. The server must be
/// reached over IPv4 by address (or `localhost`), and the clients must not ask for TLS (the relay
/// reads the server's messages).
public final class CommitDroppingProxy: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let upstreamHost: String
    private let upstreamPort: Int
    private let state = NSLock()
    /// Commit answers still to relay before the one to cut; nil when not armed.
    private var armed: Int?
    private var dropped = 0
    private var sockets = Set<Int32>()

    private var stalled = false

    /// Holds back everything the server sends until ``resume()``: a server that stopped answering
    /// (hung, or a network path that drops packets) without closing its connections.
    public func stall() { state.withLock { stalled = true } }

    /// Relays what was held back, and everything after it.
    public func resume() { state.withLock { stalled = false } }

    /// Commit answers cut so far.
    public var droppedCommits: Int { state.withLock { dropped } }

    /// Cuts the connection carrying a `COMMIT` answer once: the next one, or the one after
    /// `skipping` more have been relayed.
    public func arm(skipping: Int = 0) { state.withLock { armed = skipping } }

    /// A proxy in front of the server `direct` names, and the configuration that reaches the same
    /// database through it (without TLS, which the relay could not read).
    public static func inFront(of direct: PostgresLedger.Configuration) throws -> (proxy: CommitDroppingProxy, through: PostgresLedger.Configuration) {
        let proxy = try start(upstreamHost: direct.host, upstreamPort: direct.port)
        var through = direct
        through.port = proxy.port
        through.tls = .disable
        return (proxy, through)
    }

    public static func start(upstreamHost: String, upstreamPort: Int) throws -> CommitDroppingProxy {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw ProxyError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Bool in
                bind(listener, raw, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, raw, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw ProxyError("bind/listen on loopback: errno \(errno)")
        }
        let proxy = CommitDroppingProxy(listener: listener, port: Int(UInt16(bigEndian: address.sin_port)), upstreamHost: upstreamHost, upstreamPort: upstreamPort)
        let thread = Thread { proxy.acceptLoop() }
        thread.name = "videometer.tests.commit-proxy"
        thread.start()
        return proxy
    }

    private init(listener: Int32, port: Int, upstreamHost: String, upstreamPort: Int) {
        self.listener = listener
        self.port = port
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
    }

    /// Stops accepting and cuts every relayed connection. Only shuts sockets down: each is closed
    /// by the thread that owns it, so that no descriptor number is touched after it was closed
    /// (and perhaps reused by another test in this process).
    public func stop() {
        state.withLock {
            stalled = false
            armed = nil
            // Under the lock: a relay removes its sockets from the set, under it too, before closing them.
            for socket in sockets { shutdown(socket, Int32(SHUT_RDWR)) }
        }
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        defer { close(listener) }
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            guard let server = connectUpstream() else {
                close(client)
                continue
            }
            let pair = Pair(client: client, server: server)
            state.withLock { sockets.formUnion([client, server]) }
            Thread { self.relay(pair, from: client, to: server, watchCommits: false) }.start()
            Thread { self.relay(pair, from: server, to: client, watchCommits: true) }.start()
        }
    }

    private func connectUpstream() -> Int32? {
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard server >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(upstreamPort).bigEndian
        address.sin_addr.s_addr = inet_addr(upstreamHost == "localhost" ? "127.0.0.1" : upstreamHost)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            close(server)
            return nil
        }
        return server
    }

    /// The two sockets of one relayed connection; closed once both directions have ended.
    final class Pair: @unchecked Sendable {
        let client: Int32
        let server: Int32
        private let lock = NSLock()
        private var ended = 0

        init(client: Int32, server: Int32) {
            self.client = client
            self.server = server
        }

        /// Wakes the other direction; the second caller closes both sockets.
        func end() {
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(server, Int32(SHUT_RDWR))
            let last = lock.withLock { ended += 1; return ended == 2 }
            if last {
                close(client)
                close(server)
            }
        }
    }

    /// Relays one direction. Server-to-client traffic is read as protocol messages (a type byte and
    /// a length that counts itself), so that a `CommandComplete` whose tag is `COMMIT` can be held
    /// back when armed.
    private func relay(_ pair: Pair, from source: Int32, to destination: Int32, watchCommits: Bool) {
        defer {
            state.withLock { sockets.subtract([source, destination]) }
            pair.end()
        }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard count > 0 else { return }
            while watchCommits, state.withLock({ stalled }) { usleep(5_000) }
            guard watchCommits else {
                guard send(all: buffer[0..<count], to: destination) else { return }
                continue
            }
            pending.append(contentsOf: buffer[0..<count])
            var forward = 0
            while pending.count - forward >= 5 {
                let length = Int(pending[forward + 1]) << 24 | Int(pending[forward + 2]) << 16 | Int(pending[forward + 3]) << 8 | Int(pending[forward + 4])
                guard pending.count - forward >= 1 + length else { break }
                let isCommit = pending[forward] == UInt8(ascii: "C") && length >= 11
                    && Array(pending[(forward + 5)..<(forward + 12)]) == Array("COMMIT\0".utf8)
                if isCommit, state.withLock({ () -> Bool in
                    guard let remaining = armed else { return false }
                    guard remaining == 0 else {
                        armed = remaining - 1
                        return false
                    }
                    armed = nil
                    dropped += 1
                    return true
                }) {
                    // Relay what came before the commit's answer, then cut the connection.
                    _ = send(all: pending[0..<forward], to: destination)
                    return
                }
                forward += 1 + length
            }
            guard send(all: pending[0..<forward], to: destination) else { return }
            pending.removeFirst(forward)
        }
    }

    private func send(all bytes: ArraySlice<UInt8>, to socket: Int32) -> Bool {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    struct ProxyError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
