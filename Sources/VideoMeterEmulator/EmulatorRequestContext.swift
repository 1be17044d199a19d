import Hummingbird
import NIOCore

/// The request context of the emulator's routes: Hummingbird's basics plus the channel, so that a
/// route can close the connection without answering (`[emulate:drop]`).
struct EmulatorRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Closes the connection; whatever the route returns afterwards is never written.
    func dropConnection() async {
        try? await channel.close()
    }
}
