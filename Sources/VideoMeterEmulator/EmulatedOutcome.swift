/// An outcome forced by a tag in the prompt, overriding the seeded fault rates for that request.
///
/// Write the tag anywhere in the prompt, e.g. `"a red apple [emulate:failed]"`:
///
/// | tag | BlockRun (sync) | WorldRouter (async task) |
/// |---|---|---|
/// | `[emulate:succeeded]` | 200 with `data[]` | task `succeeded` |
/// | `[emulate:failed]` | 500 | task `failed` |
/// | `[emulate:timeout]` | 504 (85 s cap) | task `expired` |
/// | `[emulate:expired]` | 504 | task `expired` |
/// | `[emulate:cancelled]` | 500 (generation cancelled) | task `cancelled` |
/// | `[emulate:upstream_failure]` | 500 | 424 at create, no task |
/// | `[emulate:rejected]` | 403 content policy | 400 `invalid_request` |
/// | `[emulate:payment_required]` | 402 | 402 `grok_video_balance_too_low` |
/// | `[emulate:rate_limited]` | 429 | 429 `grok_video_too_many_pending_tasks` |
/// | `[emulate:drop]` | connection closed after the latency, no response | task created, connection closed before the response |
/// | `[emulate:shorter]` | 200, the video half as long as asked (rounded up) | task `succeeded`, likewise |
/// | `[emulate:moderated]` | 500 | task `failed` (xAI: `done` with `respect_moderation: false`, cost reported) |
public enum EmulatedOutcome: String, Sendable, CaseIterable, Equatable {
    case succeeded
    case failed
    case timeout
    case expired
    case cancelled
    case upstreamFailure = "upstream_failure"
    case rejected
    case paymentRequired = "payment_required"
    case rateLimited = "rate_limited"
    case drop
    case shorter
    /// The video is generated and blocked by moderation: xAI answers `done` with
    /// `respect_moderation: false` and still reports (and bills) its cost; the resellers fail it.
    case moderated

    /// The seconds generated for a request of `seconds`: as asked, or half for `shorter`.
    public static func generatedSeconds(_ seconds: Int, tag: EmulatedOutcome?) -> Int {
        tag == .shorter ? max(1, (seconds + 1) / 2) : seconds
    }

    /// The first `[emulate:...]` tag in `prompt`, if any names a known outcome.
    public static func tag(in prompt: String) -> EmulatedOutcome? {
        var rest = prompt[...]
        while let start = rest.range(of: "[emulate:") {
            let after = rest[start.upperBound...]
            guard let end = after.firstIndex(of: "]") else { return nil }
            if let outcome = EmulatedOutcome(rawValue: String(after[..<end])) {
                return outcome
            }
            rest = after[end...]
        }
        return nil
    }

    /// The tag text for this outcome, e.g. `[emulate:failed]`.
    public var tag: String { "[emulate:\(rawValue)]" }
}
