import EmotionCore
import Foundation
import Settings
import Yams

/// A configuration as read from its file: the values, every problem found, and warnings.
public struct ParsedConfig: Sendable {
    public var config: EmotiondConfig
    public var errors: [ConfigError] = []
    /// Keys whose value was refused (they keep their default; later checks skip them).
    public var invalid: Set<String> = []
    /// Problems that do not stop the daemon (e.g. an inline password in a world-readable file).
    public var warnings: [String] = []
    /// False when the file could not be read or parsed as YAML at all (no key was read).
    public var readable = true

    /// The built-in defaults, attributed to `file`.
    public init(file: String) { config = EmotiondConfig(); config.file = file }

    /// Whether `key` or a section containing it was refused.
    public func isInvalid(_ key: String) -> Bool {
        var k = Substring(key)
        while true {
            if invalid.contains(String(k)) { return true }
            guard let dot = k.lastIndex(of: ".") else { return false }
            k = k[..<dot]
        }
    }
}

/// Reads and validates the YAML configuration. Unknown keys are errors.
public enum ConfigLoader {
    /// Reads, parses and validates the file's values; throws every problem at once.
    public static func load(path: String) throws -> EmotiondConfig {
        let p = read(path: path)
        if !p.errors.isEmpty { throw ConfigErrors(p.errors) }
        return p.config
    }

    public static func parse(_ text: String, file: String) throws -> EmotiondConfig {
        let p = decode(Array(text.utf8), file: file)
        if !p.errors.isEmpty { throw ConfigErrors(p.errors) }
        return p.config
    }

    /// Reads the file (a regular file of at most 1 MiB, never blocking on a FIFO or device)
    /// and decodes it; problems are collected in the result.
    public static func read(path: String) -> ParsedConfig {
        let bytes: [UInt8], mode: mode_t
        do { (bytes, mode) = try readFile(path, limit: Limits.configBytes, what: "configuration") } catch {
            var p = ParsedConfig(file: path)
            p.errors = [ConfigError(file: path, key: "", line: 0, message: "\(error)")]
            p.readable = false
            return p
        }
        var p = decode(bytes, file: path)
        if let w = passwordWarning(p.config, mode: mode) { p.warnings.append(w) }
        return p
    }

    /// Checks size, encoding and nesting before YAML parsing, then reads every key.
    public static func decode(_ input: [UInt8], file: String) -> ParsedConfig {
        var p = ParsedConfig(file: file)
        func fatal(_ line: Int, _ message: String) -> ParsedConfig {
            p.errors = [ConfigError(file: file, key: "", line: line, message: message)]
            p.readable = false
            return p
        }
        var bytes = input
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard bytes.count <= Limits.configBytes else {
            return fatal(0, "file is larger than \(Limits.configBytes >> 20) MiB (\(bytes.count) bytes); "
                         + "configurations are small YAML files")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return fatal(firstInvalidUTF8Line(bytes), "not UTF-8 text (invalid bytes on this line); save the file as UTF-8")
        }
        if let deep = YAMLDepth.firstTooDeep(bytes, limit: Limits.configDepth) {
            return fatal(deep.line, "YAML nested deeper than \(Limits.configDepth) levels "
                         + "(the configuration's keys are 3 deep)")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch let e as YamlError {
            return fatal(max(1, yamlErrorLine(e, bytes)), "YAML syntax error: \(yamlErrorSummary(e))")
        } catch {
            return fatal(1, "YAML syntax error: \(error)")
        }
        guard let root = node else { return p }   // empty file: all defaults
        let r = Reader(file: file)
        r.walk(root, "", Schema.root, &p.config)
        p.config.origin = r.lines
        CameraMap.read(root, r, &p.config)
        p.errors = r.errors
        p.invalid = r.invalid
        return p
    }

    /// The inline password is readable by every local user: say so (once per start/reload).
    static func passwordWarning(_ c: EmotiondConfig, mode: mode_t) -> String? {
        guard c.mqtt.password != nil, mode & S_IROTH != 0 else { return nil }
        let loc = c.origin["outputs.mqtt.password"].map { ":\($0)" } ?? ""
        return "\(c.file)\(loc): warning: outputs.mqtt.password: this file is readable by every local user "
            + "(mode \(String(mode & 0o777, radix: 8))); move the password to password_file (mode 0600, or systemd "
            + "LoadCredential=) or make the file unreadable to others (chmod o-r)"
    }

    static func firstInvalidUTF8Line(_ bytes: [UInt8]) -> Int {
        for (i, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated()
        where String(validating: line, as: UTF8.self) == nil { return i + 1 }
        return 1
    }

    static func yamlErrorLine(_ e: YamlError, _ bytes: [UInt8]) -> Int {
        switch e {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        case let .reader(_, offset?, _, _): return bytes.prefix(offset).reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        default: return 0
        }
    }

    static func yamlErrorSummary(_ e: YamlError) -> String {
        switch e {
        case let .scanner(_, problem, _, _), let .parser(_, problem, _, _), let .composer(_, problem, _, _): return problem
        case let .reader(problem, _, _, _): return problem
        default: return "\(e)"
        }
    }
}

/// A file problem already phrased for the user ("no such file", "is a FIFO, not a regular file").
public struct FileProblem: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Reads a whole regular file of at most `limit` bytes. Opened non-blocking and checked with
/// fstat first, so a FIFO, device or directory is refused instead of hanging or streaming.
public func readFile(_ path: String, limit: Int, what: String) throws -> ([UInt8], mode_t) {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    guard fd >= 0 else {
        let e = errno
        throw FileProblem(e == ENOENT ? "no such file" : "cannot open: \(String(cString: strerror(e)))")
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw FileProblem("cannot stat: \(String(cString: strerror(errno)))") }
    guard st.st_mode & S_IFMT == S_IFREG else {
        throw FileProblem("is \(fileKind(st.st_mode)), not a regular file; the \(what) must be a regular file")
    }
    var out = [UInt8](), buf = [UInt8](repeating: 0, count: 65536)
    while out.count <= limit {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw FileProblem("cannot read: \(String(cString: strerror(errno)))") }
        if n == 0 { break }
        out += buf[0..<n]
    }
    guard out.count <= limit else {
        let size = limit >= 1 << 20 ? "\(limit >> 20) MiB" : "\(limit >> 10) KiB"
        throw FileProblem("is larger than \(size); the \(what) is refused")
    }
    return (out, st.st_mode)
}

/// "a directory", "a FIFO", ... for messages.
public func fileKind(_ mode: mode_t) -> String {
    let kind = FileKind(mode: mode)
    return kind == .other ? "not a regular file" : "a \(kind.noun)"
}
