/// Where a metered call is upstream, stored on its hold (`hold.callStatus`) and copied to its usage
/// event when the hold resolves.
///
/// `held -> submitted -> running -> succeeded | failed | cancelled | expired | timed_out | rejected`,
/// plus `unknown`: the request was sent and no answer came back, so the hold stays until a
/// reconciliation pass or the sweeper settles it.
public enum CallStatus: String, Sendable, Codable, CaseIterable {
    case held, submitted, running, succeeded, failed, cancelled, expired
    case timedOut = "timed_out"
    case rejected, unknown

    /// True for the outcomes after which the upstream will not change its answer.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .expired, .timedOut, .rejected: true
        case .held, .submitted, .running, .unknown: false
        }
    }
}
