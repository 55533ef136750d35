import Foundation
import Settings
import Yams

/// How a string setting may look; `allowed` is quoted in every error about it.
struct StringForm {
    var pattern: String? = nil
    var maxBytes = 4095
    var allowed: String
    /// Extra check after the pattern (e.g. numeric IPv4 octets); returns false to refuse.
    var accept: (String) -> Bool = { _ in true }

    static let path = StringForm(allowed: "a file path (at most 4095 bytes, no control characters)")
    static let text = StringForm(maxBytes: 65535, allowed: "text of 1-65535 bytes without control characters")
}

/// Walks the YAML nodes along the schema, collecting located errors instead of stopping at
/// the first, so one run reports every problem in the file.
final class Reader {
    let file: String
    var lines: [String: Int] = [:]
    var errors: [ConfigError] = []
    /// Keys whose value was refused: the start checks skip them (their default would mislead).
    var invalid: Set<String> = []
    init(file: String) { self.file = file }

    func line(_ n: Node) -> Int { (n.mark?.line ?? 0) }
    func err(_ n: Node, _ key: String, _ msg: String) -> ConfigError {
        ConfigError(file: file, key: key, line: line(n), message: msg)
    }

    func walk(_ n: Node, _ path: String, _ entries: [Schema.Field], _ c: inout EmotiondConfig) {
        if !path.isEmpty, isNull(n) { return }   // an empty section: its defaults
        guard case let .mapping(m) = n else {
            let keys = entries.map(\.name).joined(separator: ", ")
            errors.append(err(n, path, "expected a mapping (key: value lines) of \(keys)"))
            invalid.insert(path)
            return
        }
        var seen = Set<String>()
        for (k, v) in m {
            guard case let .scalar(s) = k else {
                let keys = entries.map(\.name).joined(separator: ", ")
                errors.append(err(k, path, "keys must be plain strings (one of \(keys))"))
                continue
            }
            let name = s.string, p = path.isEmpty ? name : "\(path).\(name)"
            guard seen.insert(name).inserted else {
                errors.append(err(k, p, "duplicate key (each key once per section)"))
                continue
            }
            lines[p] = line(k)
            guard let entry = entries.first(where: { $0.name == name })?.entry else {
                errors.append(err(k, p, Schema.unknownKeyMessage(name, in: path, entries)))
                continue
            }
            switch entry {
            case let .section(sub): walk(v, p, sub, &c)
            case let .value(set):
                do { try set(self, v, p, &c) } catch let e as ConfigError {
                    errors.append(e.line > 0 ? e : ConfigError(file: file, key: p, line: line(k), message: e.message))
                    invalid.insert(p)
                } catch {
                    errors.append(err(v, p, "\(error)")); invalid.insert(p)
                }
            }
        }
    }

    func isNull(_ n: Node) -> Bool {
        if case let .scalar(s) = n { return s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string) }
        return false
    }

    func scalar(_ n: Node, _ key: String, _ allowed: String) throws -> Node.Scalar {
        guard case let .scalar(s) = n else {
            throw err(n, key, "expected a single value (\(allowed)), got a list or mapping")
        }
        return s
    }

    /// The value as written, shortened for messages (a 70,000-character value stays readable),
    /// with the credentials of a URL (a camera's source) redacted.
    static func echo(_ value: String) -> String {
        let s = SourceLocation.isURL(value) ? Credentials.redactURL(value) : Credentials.redact(value)
        return s.count <= 60 ? "'\(s)'" : "'\(s.prefix(40))…' (\(s.utf8.count) bytes)"
    }

    func string(_ n: Node, _ key: String, _ form: StringForm) throws -> String {
        let s = try scalar(n, key, form.allowed).string
        guard !isNull(n), !s.isEmpty else { throw err(n, key, "must not be empty (allowed: \(form.allowed))") }
        let ok = s.utf8.count <= form.maxBytes && !s.unicodeScalars.contains { $0.properties.generalCategory == .control }
            && (form.pattern.map { s.range(of: $0, options: .regularExpression) != nil } ?? true) && form.accept(s)
        guard ok else { throw err(n, key, "must be \(form.allowed), got \(Self.echo(s))") }
        return s
    }

    func optionalString(_ n: Node, _ key: String, _ form: StringForm = .path) throws -> String? {
        isNull(n) ? nil : try string(n, key, form)
    }

    /// One path, or a non-empty YAML list of them; a bad entry is located at its own line.
    func pathList(_ n: Node, _ key: String) throws -> [String] {
        guard case let .sequence(seq) = n else { return try optionalString(n, key).map { [$0] } ?? [] }
        guard !seq.isEmpty else { throw err(n, key, "must not be an empty list (give one or more model files)") }
        return try seq.map { e in
            guard case .scalar = e else { throw err(e, key, "each list entry must be a file path, got a list or mapping") }
            return try string(e, key, .path)
        }
    }

    func int(_ n: Node, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
        let allowed = "an integer in \(range.lowerBound)...\(range.upperBound)"
        let s = try scalar(n, key, allowed)
        guard s.style == .plain, let v = Int(s.string.replacingOccurrences(of: "_", with: "")), range.contains(v) else {
            throw err(n, key, "must be \(allowed), got \(Self.echo(s.string))")
        }
        return v
    }

    /// null (`what` it means, for the message), or an integer in `range`.
    func optionalInt(_ n: Node, _ key: String, _ range: ClosedRange<Int>, null what: String) throws -> Int? {
        if isNull(n) { return nil }
        let s = try scalar(n, key, "null (\(what)) or an integer in \(range.lowerBound)...\(range.upperBound)")
        guard s.style == .plain, let v = Int(s.string.replacingOccurrences(of: "_", with: "")), range.contains(v) else {
            throw err(n, key, "must be null (\(what)) or an integer in \(range.lowerBound)...\(range.upperBound), got \(Self.echo(s.string))")
        }
        return v
    }

    func double(_ n: Node, _ key: String, _ range: ClosedRange<Double>) throws -> Double {
        let allowed = "a number in \(Limits.fmt(range.lowerBound))...\(Limits.fmt(range.upperBound))"
        let s = try scalar(n, key, allowed)
        guard s.style == .plain, let v = Double(s.string), range.contains(v) else {
            throw err(n, key, "must be \(allowed), got \(Self.echo(s.string))")
        }
        return v
    }

    func bool(_ n: Node, _ key: String) throws -> Bool {
        let s = try scalar(n, key, "true or false")
        switch s.string {
        case "true", "True", "TRUE", "yes", "on": return true
        case "false", "False", "FALSE", "no", "off": return false
        default: throw err(n, key, "must be true or false, got \(Self.echo(s.string))")
        }
    }

    func choice(_ n: Node, _ key: String, _ options: [String]) throws -> String {
        let allowed = "one of \(options.joined(separator: ", "))"
        let v = try scalar(n, key, allowed).string
        guard options.contains(v) else { throw err(n, key, "must be \(allowed), got \(Self.echo(v))") }
        return v
    }
}
