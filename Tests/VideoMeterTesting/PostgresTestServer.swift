import Foundation
import Logging
import PostgresNIO
import VideoMeterLedgerPostgres

/// The PostgreSQL server the suite's PostgreSQL cases run against: `VIDEOMETER_TEST_POSTGRES_URL`
/// when set (a server someone runs; each test gets a database of its own on it), else a throwaway
/// server started once per test process: `initdb` into a fresh directory under /tmp and `pg_ctl
/// start` on a free loopback port, with the binaries of `/usr/lib/postgresql/15/bin`.
///
/// PostgreSQL refuses to run as root; as root the directory is given to the `postgres` user and
/// both commands run through `runuser -u postgres --`. The server is stopped (`pg_ctl stop -m
/// immediate`) and its directory removed by an `atexit` handler when the test process ends normally. If the process is
/// killed instead, the server keeps running on its port with its data under
/// `/tmp/videometer-pg-*`; it holds only throwaway test databases, and `pg_ctl -D <dir>/data stop`
/// (or a reboot) ends it.
///
/// Where no server binaries exist, the PostgreSQL cases are skipped with one printed line, unless
/// `VIDEOMETER_REQUIRE_POSTGRES=1`, which makes a missing server a test failure.
public actor PostgresTestServer {
    public static let shared = PostgresTestServer()

    public static let binaries = "/usr/lib/postgresql/15/bin"
    public static let password = "videometer-test-password"

    /// The server's start, run once on a thread of its own: initdb and pg_ctl block for seconds,
    /// which on the cooperative pool (two threads on a two-core machine) would stall every other
    /// test's timers and sockets.
    private var starting: Task<Result<PostgresLedger.Configuration, any Error>, Never>?
    private var databases = 0

    /// Whether a missing server fails the test rather than skipping its PostgreSQL case.
    public static var required: Bool { ProcessInfo.processInfo.environment["VIDEOMETER_REQUIRE_POSTGRES"] == "1" }

    /// A configuration for a new, empty database of its own, or nil when PostgreSQL cases are skipped.
    public func freshDatabase() async throws -> PostgresLedger.Configuration? {
        guard var configuration = try await server() else { return nil }
        databases += 1
        let name = "vm_\(ProcessInfo.processInfo.processIdentifier)_\(databases)_\(UUID().uuidString.prefix(8).lowercased())"
        try await Self.execute("CREATE DATABASE \(name)", on: configuration)
        configuration.database = name
        return configuration
    }

    /// The server's configuration (database `postgres`), starting it on first use.
    public func server() async throws -> PostgresLedger.Configuration? {
        if starting == nil {
            starting = Task {
                await withCheckedContinuation { continuation in
                    let thread = Thread { continuation.resume(returning: Result { try PostgresTestServer.start() }) }
                    thread.name = "videometer.tests.postgres-start"
                    thread.start()
                }
            }
        }
        switch await starting!.value {
        case .success(let configuration):
            return configuration
        case .failure(let error as Unavailable):
            if Self.required { throw error }
            Self.announceSkip(error.reason)
            return nil
        case .failure(let error):
            throw error
        }
    }

    struct Unavailable: Error, CustomStringConvertible {
        var reason: String
        var description: String { "no PostgreSQL server for the tests: \(reason) (VIDEOMETER_REQUIRE_POSTGRES=1)" }
    }

    nonisolated(unsafe) private static var announced = false
    private static func announceSkip(_ reason: String) {
        guard !announced else { return }
        announced = true
        print("PostgreSQL ledger cases skipped: \(reason). Install postgresql-15 or set VIDEOMETER_TEST_POSTGRES_URL.")
    }

    /// Runs one statement as the server's superuser, outside any transaction.
    public static func execute(_ sql: String, on configuration: PostgresLedger.Configuration) async throws {
        var connectionConfiguration = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username, password: configuration.password,
            database: configuration.database, tls: .disable)
        connectionConfiguration.options.connectTimeout = .seconds(10)
        let logger = Logger(label: "videometer.tests.postgres")
        let connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 1, logger: logger)
        do {
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    // MARK: - The throwaway server

    nonisolated(unsafe) private static var instance: Instance?

    private static func start() throws -> PostgresLedger.Configuration {
        let environment = ProcessInfo.processInfo.environment
        if let url = environment["VIDEOMETER_TEST_POSTGRES_URL"], !url.isEmpty {
            return try PostgresLedger.Configuration(url: url)
        }
        let server = try Instance.create()
        instance = server
        atexit { PostgresTestServer.instance?.remove() }
        return server.configuration
    }

    /// A server of one test's own, on its own port and directory, which the test may stop and
    /// start again (the shared server must keep running for the other tests). Nil where the
    /// PostgreSQL cases are skipped.
    public static func dedicated() async throws -> Instance? {
        guard try await shared.server() != nil else { return nil }
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try Instance.create() }) }
            thread.name = "videometer.tests.postgres-start"
            thread.start()
        }
    }

    /// One throwaway server: `initdb` into a fresh directory under /tmp, `pg_ctl start` on a free
    /// loopback port.
    public final class Instance: Sendable {
        /// The server's superuser on database `postgres`.
        public let configuration: PostgresLedger.Configuration
        let root: String
        let startArguments: [String]
        let stopArguments: [String]

        init(configuration: PostgresLedger.Configuration, root: String, startArguments: [String], stopArguments: [String]) {
            self.configuration = configuration
            self.root = root
            self.startArguments = startArguments
            self.stopArguments = stopArguments
        }

        static func create() throws -> Instance {
            let initdb = "\(binaries)/initdb", pgctl = "\(binaries)/pg_ctl"
            guard FileManager.default.isExecutableFile(atPath: initdb), FileManager.default.isExecutableFile(atPath: pgctl) else {
                throw Unavailable(reason: "\(initdb) not found")
            }
            let root = "/tmp/videometer-pg-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
            let data = "\(root)/data", passwordFile = "\(root)/password", log = "\(root)/server.log"
            try password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
            var prefix: [String] = []
            if getuid() == 0 {
                guard let user = getpwnam("postgres") else { throw Unavailable(reason: "running as root and there is no postgres user") }
                chown(root, user.pointee.pw_uid, user.pointee.pw_gid)
                chown(passwordFile, user.pointee.pw_uid, user.pointee.pw_gid)
                prefix = ["/usr/sbin/runuser", "-u", "postgres", "--"]
            }
            try run(prefix + [
                initdb, "-D", data, "-U", "postgres", "--pwfile", passwordFile, "--auth-host=scram-sha-256", "--auth-local=trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            ])
            let port = try freePort()
            let server = Instance(
                configuration: PostgresLedger.Configuration(
                    host: "127.0.0.1", port: port, username: "postgres", password: password, database: "postgres", tls: .disable),
                root: root,
                startArguments: prefix + [
                    pgctl, "-D", data, "-l", log, "-w", "-t", "60",
                    "-o", "-p \(port) -k \(root) -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=32MB",
                    "start",
                ],
                stopArguments: prefix + [pgctl, "-D", data, "-m", "immediate", "-w", "stop"])
            try server.start()
            return server
        }

        /// Starts the server (again); returns once it accepts connections.
        public func start() throws { try PostgresTestServer.run(startArguments) }

        /// Stops the server at once (`-m immediate`: as if it crashed; what it acknowledged survives).
        public func stop() throws { try PostgresTestServer.run(stopArguments) }

        /// Stops the server if it runs and removes its directory.
        public func remove() {
            try? stop()
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// Runs a command to its end (posix_spawn and waitpid: no run loop involved). Its output goes
    /// to a file, not a pipe: `pg_ctl start` leaves the server running with the descriptors it was
    /// given, and a pipe would never reach its end.
    public static func run(_ arguments: [String]) throws {
        let outputPath = "/tmp/videometer-pg-command-\(getpid())-\(UUID().uuidString.prefix(8)).log"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process reaches the child: `pg_ctl start` leaves a server running
        // for the whole suite, and a pipe another test had open at this moment (a `videometer`
        // child's stdout) would never reach its end while the server held its write end.
        try closeInheritedDescriptors(&actions)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        guard spawned == 0 else { throw Unavailable(reason: "could not start \(arguments[0]) (errno \(spawned))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // Exited normally with status 0.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw Unavailable(reason: "\(arguments.joined(separator: " ")) failed (status \(status)): \(text.suffix(2000))")
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not import (it is declared under `_GNU_SOURCE`).
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
        guard let addCloseFrom else { throw Unavailable(reason: "this C library has no posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later)") }
        let code = addCloseFrom(&actions, 3)
        guard code == 0 else { throw Unavailable(reason: "posix_spawn_file_actions_addclosefrom_np failed (errno \(code))") }
    }

    /// A loopback port nothing listens on now, below the kernel's ephemeral range (32768 and up on
    /// Linux): other tests take "a closed port" by binding port 0 and closing it, and a server
    /// started on such a port would answer them instead of the refusal they expect.
    public static func freePort() throws -> Int {
        for _ in 0..<200 {
            let candidate = Int.random(in: 20_000..<32_000)
            if try canBind(candidate) { return candidate }
        }
        throw Unavailable(reason: "no free loopback port between 20000 and 32000")
    }

    private static func canBind(_ port: Int) throws -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Unavailable(reason: "no socket for a free port") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0
    }
}
