import Foundation

/// Where `camera.source` (or `--source`) points: a path (a file, FIFO or device; `file://` URLs
/// become their path) or a network stream read through OpenCV's FFmpeg backend.
public enum SourceLocation: Equatable, Sendable {
    case path(String)
    /// rtsp, rtsps, http or https, as written (credentials included: only FFmpeg sees them).
    case network(String)

    public static let networkSchemes = ["rtsp", "rtsps", "http", "https"]
    public static let allowed = "a file path, or a URL with scheme rtsp, rtsps, http, https or file"

    /// The location `s` names; throws a message naming the problem (with credentials redacted).
    public static func parse(_ s: String) throws -> SourceLocation {
        guard let scheme = urlScheme(s) else { return .path(s) }
        let shown = Credentials.redactURL(s)
        if scheme == "file" { return .path(try filePath(s, shown: shown)) }
        guard networkSchemes.contains(scheme) else {
            throw SourceLocationError("unsupported URL scheme '\(scheme)' in \(shown) (allowed: \(allowed))")
        }
        if let why = authorityProblem(s) { throw SourceLocationError("\(shown): \(why)") }
        return .network(s)
    }

    public var isNetwork: Bool { if case .network = self { return true }; return false }

    /// Whether `s` is written as a URL (SCHEME://…) rather than a path.
    public static func isURL(_ s: String) -> Bool { urlScheme(s) != nil }

    /// "rtsp" for "RTSP://host/x": RFC 3986 scheme followed by "://"; nil for a path.
    static func urlScheme(_ s: String) -> String? {
        guard let r = s.range(of: "://") else { return nil }
        let scheme = s[..<r.lowerBound]
        guard scheme.range(of: "^[A-Za-z][A-Za-z0-9+.-]*$", options: .regularExpression) != nil else { return nil }
        return scheme.lowercased()
    }

    /// file:///abs/path or file://localhost/abs/path → /abs/path (percent-decoded).
    static func filePath(_ s: String, shown: String) throws -> String {
        let rest = s[s.range(of: "://")!.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let host = rest[..<slash]
        guard host.isEmpty || host.lowercased() == "localhost" else {
            throw SourceLocationError("\(shown): a file URL must name a local file (file:///path)")
        }
        let path = String(rest[slash...])
        guard !path.isEmpty, let decoded = path.removingPercentEncoding else {
            throw SourceLocationError("\(shown): not a valid file URL (expected file:///path)")
        }
        return decoded
    }

    /// Why the host[:port] part of a network URL is unusable, or nil.
    static func authorityProblem(_ s: String) -> String? {
        // As FFmpeg (and RFC 3986) read it: the authority ends at the first '/', '?' or '#'.
        let tail = s[s.range(of: "://")!.upperBound...]
        var hostPort = tail[..<(tail.firstIndex { "/?#".contains($0) } ?? tail.endIndex)]
        if let at = hostPort.lastIndex(of: "@") { hostPort = hostPort[hostPort.index(after: at)...] }
        if s.contains(where: { $0.isWhitespace }) || s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            return "URLs must not contain spaces or control characters (percent-encode them)"
        }
        var host = hostPort, port: Substring? = nil
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return "unclosed '[' in the host" }
            host = hostPort[...close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty { guard after.hasPrefix(":") else { return "expected ':PORT' after the IPv6 address" }; port = after.dropFirst() }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]; port = hostPort[hostPort.index(after: colon)...]
        }
        if host.isEmpty { return "no host (expected SCHEME://[USER:PASSWORD@]HOST[:PORT]/PATH)" }
        if let port, !(port.allSatisfy(\.isASCII) && Int(port).map { (1...65535).contains($0) } == true) {
            return "the port must be a number in 1...65535"   // not echoed: a mistyped URL may put a password here
        }
        return nil
    }
}

public struct SourceLocationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Credentials in URLs never reach a log line, an error, a metric or an output file: every text
/// that may hold a source URL goes through `redact` first. `rtsp://admin:pw@cam/x` becomes
/// `rtsp://admin:***@cam/x` (the user name stays: it tells which account was tried); a lone user
/// part (`rtsp://TOKEN@cam/x`, some cameras' key) becomes `***@`; the values of query parameters
/// that carry secrets (`?password=…`, `token`, `key`, …) become `***`.
public enum Credentials {
    static let secretParameters: Set<String> = ["password", "passwd", "pass", "pwd", "token", "access_token", "key",
                                                "apikey", "api_key", "secret", "auth", "signature", "sig"]

    /// `text` with the credentials of every URL in it replaced by `***`.
    public static func redact(_ text: String) -> String {
        guard text.contains("://") else { return text }
        var out = "", rest = Substring(text)
        while let r = rest.range(of: "://") {
            out += rest[..<r.upperBound]
            let tail = rest[r.upperBound...]
            let end = tail.firstIndex { $0.isWhitespace || "\"'<>`".contains($0) } ?? tail.endIndex
            out += redactURLTail(tail[..<end])
            rest = tail[end...]
        }
        return out + rest
    }

    /// `url`, known to be one whole URL (spaces and all), redacted: for a configured source.
    public static func redactURL(_ url: String) -> String {
        guard let r = url.range(of: "://") else { return url }
        return url[..<r.upperBound] + redactURLTail(url[r.upperBound...])
    }

    /// What follows "scheme://" of one URL, redacted. A user part holding a '/' (an unencoded
    /// one in a password) is ambiguous, so all of it goes.
    static func redactURLTail(_ tail: Substring) -> String {
        let p = parts(tail)
        guard let user = p.userinfo else { return p.hostPort + redactQuery(p.rest) }
        let kept = user.contains("/") ? "" : user.firstIndex(of: ":").map { String(user[...$0]) } ?? ""
        return kept + "***@" + p.hostPort + redactQuery(p.rest)
    }

    /// "/path?user=a&password=b#f" → "/path?user=a&password=***#f".
    static func redactQuery(_ s: Substring) -> String {
        guard let q = s.firstIndex(of: "?") else { return String(s) }
        let fragment = s[q...].firstIndex(of: "#") ?? s.endIndex
        let params = s[s.index(after: q)..<fragment].split(separator: "&", omittingEmptySubsequences: false).map { p -> String in
            guard let eq = p.firstIndex(of: "="), secretParameters.contains(p[..<eq].lowercased()) else { return String(p) }
            return p[...eq] + "***"
        }
        return s[...q] + params.joined(separator: "&") + s[fragment...]
    }

    /// What follows "scheme://" split into the user part, HOST[:PORT] and the rest (path, query,
    /// fragment). Defensive, for redaction: the user part runs to the last '@' before any query,
    /// because a password may hold '@' or an unencoded '/' (an '@' in a path then takes the host
    /// with it: shown too little rather than a secret shown).
    static func parts(_ tail: Substring) -> (userinfo: Substring?, hostPort: Substring, rest: Substring) {
        let pre = tail[..<(tail.firstIndex { "?#".contains($0) } ?? tail.endIndex)]
        var userinfo: Substring? = nil, after = tail
        if let at = pre.lastIndex(of: "@") { userinfo = tail[..<at]; after = tail[tail.index(after: at)...] }
        let end = after.firstIndex { "/?#".contains($0) } ?? after.endIndex
        return (userinfo, after[..<end], after[end...])
    }
}
