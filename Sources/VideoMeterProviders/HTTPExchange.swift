import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A response read in full (up to a cap), or the transport failure classified by whether the
/// request can have reached the upstream.
struct HTTPExchange: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: Data

    /// Sends `request` and collects the body, throwing ``ProviderError`` for transport failures:
    /// `upstream_unreachable` when nothing can have been sent, `outcome_unknown` otherwise.
    static func send(
        _ request: HTTPClientRequest, on client: HTTPClient, timeout: Duration, maxBodyBytes: Int, provider: String
    ) async throws -> HTTPExchange {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .init(timeout))
        } catch {
            throw classify(error, provider: provider, timeout: timeout)
        }
        do {
            let buffer = try await response.body.collect(upTo: maxBodyBytes)
            return HTTPExchange(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView))
        } catch is NIOTooManyBytesError {
            throw ProviderError(
                .badResponse, provider: provider, message: "The \(provider) response body exceeded \(maxBodyBytes) bytes.",
                httpStatus: Int(response.status.code))
        } catch {
            // The upstream answered with a status, then the body was cut: it did act on the request.
            let unknown = classify(error, provider: provider, timeout: timeout)
            throw ProviderError(
                .outcomeUnknown, provider: provider, message: unknown.message, httpStatus: Int(response.status.code))
        }
    }

    /// Sorts a transport error into "nothing was sent" and "sent, answer lost".
    ///
    /// AsyncHTTPClient fails a request that is still waiting for a connection with the last
    /// connection error (`NIOConnectionError`, `ECONNREFUSED`), `connectTimeout` or
    /// `getConnectionFromPoolTimeout`: those requests were never written. Anything else
    /// (read timeout, deadline, connection closed or reset) happens after the request was handed to a
    /// connection, so the upstream may have acted on it.
    static func classify(_ error: any Error, provider: String, timeout: Duration) -> ProviderError {
        if let error = error as? ProviderError { return error }
        if error is NIOConnectionError {
            return unreachable(provider, "the connection could not be established")
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout, .socksHandshakeTimeout,
                 .httpProxyHandshakeTimeout, .invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown:
                return unreachable(provider, "the connection could not be established (\(error))")
            case .deadlineExceeded, .readTimeout:
                return unknown(provider, "no answer within \(timeout)")
            default:
                return unknown(provider, "the connection failed after the request was sent (\(error))")
            }
        }
        if let error = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL].contains(error.errnoCode) {
            return unreachable(provider, "the connection was refused")
        }
        if case .connectTimeout? = error as? ChannelError {
            return unreachable(provider, "the connection timed out")
        }
        if error is CancellationError {
            return unknown(provider, "the call was cancelled after it may have been sent")
        }
        return unknown(provider, "the connection failed after the request was sent")
    }

    private static func unreachable(_ provider: String, _ reason: String) -> ProviderError {
        ProviderError(.unreachable, provider: provider, message: "\(provider) is unreachable: \(reason); nothing was sent.")
    }

    private static func unknown(_ provider: String, _ reason: String) -> ProviderError {
        ProviderError(
            .outcomeUnknown, provider: provider,
            message: "The \(provider) request was sent but \(reason); the upstream may have processed it.")
    }

    /// `Retry-After` in seconds (the HTTP-date form is not used by these upstreams and is ignored).
    var retryAfter: Duration? {
        guard let text = headers.first(name: "Retry-After")?.trimmingCharacters(in: .whitespaces),
              let seconds = Int(text), seconds >= 0 else { return nil }
        return .seconds(seconds)
    }

    /// The error an upstream put in its body, in any of the shapes these APIs use:
    /// `{"error": "message"}`, `{"error": {"code", "message", "upstream_status"}}`, `{"message"}`.
    var upstreamError: (code: String?, message: String?, upstreamStatus: Int?) {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return (nil, text.isEmpty ? nil : text, nil)
        }
        if let error = object["error"] as? [String: Any] {
            return (error["code"] as? String ?? error["type"] as? String,
                    error["message"] as? String,
                    (error["upstream_status"] as? Int) ?? (object["upstream_status"] as? Int))
        }
        return (object["code"] as? String,
                object["error"] as? String ?? object["message"] as? String,
                object["upstream_status"] as? Int)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension HTTPClientRequest {
    /// A JSON request with the headers every provider sends.
    static func json(url: String, method: HTTPMethod, body: Data?, idempotencyKey: String?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "videometer/0.1")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        if let idempotencyKey {
            request.headers.add(name: "Idempotency-Key", value: idempotencyKey)
        }
        return request
    }
}

/// Checks and normalises a base URL: http or https, no trailing slash.
func normalisedBaseURL(_ text: String, provider: String) throws -> String {
    var url = text.trimmingCharacters(in: .whitespaces)
    while url.hasSuffix("/") { url.removeLast() }
    guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
          scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
    else {
        throw ProviderError(.misconfigured, provider: provider, message: "The \(provider) base URL '\(url)' is not an http(s) URL.")
    }
    return url
}
