import Capture
import Foundation
import Settings

/// The checks `run` makes before it starts, apart from loading the model and cascade (done by
/// the executable, which knows where they are installed). `check-config`, `run` and SIGHUP
/// reloads all go through here, so "OK" from check-config means the daemon starts.
public enum StartChecks {
    /// Checks `p` in place: the password file is read into `mqtt.password` and the metrics
    /// address resolved to a numeric one. Problems are appended to `p.errors`; keys whose
    /// value was already refused are skipped. `env` supplies $CREDENTIALS_DIRECTORY.
    public static func run(_ p: inout ParsedConfig, env: [String: String] = ProcessInfo.processInfo.environment) {
        guard p.readable else { return }
        var c = p.config, errors: [ConfigError] = []
        func check(_ key: String, _ body: () throws -> Void) {
            guard !p.isInvalid(key) else { return }
            do { try body() } catch let e as ConfigError { errors.append(e) } catch {
                errors.append(c.error(key, "\(error)"))
            }
        }
        for cc in c.cameraConfigs { errors += camera(cc, p) }
        if let path = c.history.path { check("history.path") { try writableFile(path) } }
        if let dir = c.snapshotDir { check("privacy.snapshot_dir") { try writableDirectory(dir) } }
        if c.mqtt.enabled { mqtt(&c, p, env, &errors) }
        if let l = c.metrics.listen { check("outputs.metrics.listen") { c.metrics.listen = try resolveListen(l) } }
        if let l = c.http.listen { check("http.listen") { c.http.listen = try resolveListen(l) } }
        if let tf = c.http.tokenFile { check("http.token_file") { c.http.token = try httpToken(tf, inline: c.http.token, env: env) } }
        if let l = c.http.listen, l == c.metrics.listen {
            check("http.listen") {
                throw FileProblem("is also outputs.metrics.listen; the HTTP server serves /metrics too: set http.listen alone")
            }
        }
        p.config = c
        p.errors += errors
    }

    // MARK: camera

    /// One camera's checks (each camera of a `cameras:` map): its source or device, its log file.
    static func camera(_ c: EmotiondConfig, _ p: ParsedConfig) -> [ConfigError] {
        var errors: [ConfigError] = []
        func check(_ key: String, _ body: () throws -> Void) {
            guard !p.isInvalid(c.writtenKeys[key] ?? key) else { return }
            do { try body() } catch let e as ConfigError { errors.append(e) } catch {
                errors.append(c.error(key, "\(error)"))
            }
        }
        if let s = c.camera.source { check("camera.source") { try source(s) } }
        else { check("camera.device") { try device(c.camera.device) } }
        if c.camera.reconnectMaxDelay < c.camera.reconnectDelay {
            check("camera.reconnect_max_delay") {
                throw FileProblem("must be at least reconnect_delay (\(Limits.fmt(c.camera.reconnectDelay)))")
            }
        }
        if let path = c.log.path { check("outputs.log.path") { try writableFile(path) } }
        return errors
    }

    /// A network URL is checked for its form only: a camera that does not answer at start is not
    /// fatal (`run` keeps retrying it, as after a loss), and a check here would delay every start.
    static func source(_ location: String) throws {
        guard case let .path(s) = try SourceLocation.parse(location) else { return }
        // FIFOs and character devices are streams: opening one here would consume its header.
        if VideoFile.isStream(s) { return }
        var st = stat()
        if stat(s, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { throw FileProblem("\(s) is a directory, not a video file") }
        _ = try VideoFile(path: s)
    }

    static let v4l2Major: UInt = 81

    static func device(_ dev: String) throws {
        var st = stat()
        guard stat(dev, &st) == 0 else { throw FileProblem("\(dev) does not exist (no camera connected?)") }
        let form = "expected a V4L2 capture device such as /dev/video0 (`emotiond devices` lists them)"
        switch st.st_mode & S_IFMT {
        case S_IFCHR:
            // Only video4linux devices are opened: opening an arbitrary device (a watchdog, a tty) has effects.
            let major = (UInt(st.st_rdev) >> 8) & 0xfff | (UInt(st.st_rdev) >> 32) & ~0xfff
            guard major == v4l2Major else { throw FileProblem("\(dev) is a character device but not a V4L2 one; \(form)") }
        case S_IFREG:
            break   // stand-in devices of the test camera (Tests/simcam); VIDIOC_QUERYCAP below decides
        default:
            throw FileProblem("\(dev) is \(fileKind(st.st_mode)); \(form)")
        }
        let info: V4L2DeviceInfo
        do { info = try V4L2Camera.describe(dev) } catch { throw FileProblem("\(error); \(form)") }
        guard info.capabilities.contains("video-capture"), info.capabilities.contains("streaming") else {
            throw FileProblem("\(dev) (\(info.card)) cannot stream video capture; \(form)")
        }
    }

    // MARK: files

    static func writableFile(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFLNK:
                throw FileProblem("\(path) is a symbolic link; logs are not written through links (give the target's path)")
            case S_IFDIR: throw FileProblem("\(path) is a directory; give a file path in it, e.g. \(path)/frames.ndjson")
            default: throw FileProblem("\(path) is \(fileKind(st.st_mode)), not a regular file")
            }
            guard access(path, W_OK) == 0 else { throw FileProblem("\(path) is not writable: \(errnoText())") }
            return
        }
        guard errno == ENOENT else { throw FileProblem("\(path): \(errnoText())") }
        let parent = (path as NSString).deletingLastPathComponent
        try writableDirectory(parent.isEmpty ? "." : parent, creating: path)
    }

    static func writableDirectory(_ dir: String, creating file: String? = nil) throws {
        var st = stat()
        let what = file.map { "cannot create \($0): directory " } ?? ""
        guard stat(dir, &st) == 0 else { throw FileProblem("\(what)\(dir) does not exist (create it first)") }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw FileProblem("\(what)\(dir) is \(fileKind(st.st_mode)), not a directory")
        }
        guard access(dir, W_OK | X_OK) == 0 else {
            throw FileProblem("\(what)\(dir) is not writable: \(errnoText())")
        }
    }

    static func readableFile(_ path: String) throws {
        _ = try readFile(path, limit: 16 << 20, what: "file").0
    }

    // MARK: MQTT

    static func mqtt(_ c: inout EmotiondConfig, _ p: ParsedConfig, _ env: [String: String], _ errors: inout [ConfigError]) {
        let m = c.mqtt
        func fail(_ key: String, _ msg: String) { if !p.isInvalid(key) { errors.append(c.error(key, msg)) } }
        func file(_ key: String, _ path: String?) {
            guard let path, !p.isInvalid(key) else { return }
            do { try readableFile(path) } catch { errors.append(c.error(key, "\(path): \(error)")) }
        }
        file("outputs.mqtt.ca_file", m.caFile)
        file("outputs.mqtt.cert_file", m.certFile)
        file("outputs.mqtt.key_file", m.keyFile)
        let cert = "outputs.mqtt.cert_file"
        if m.certFile != nil, m.keyFile == nil { fail(cert, "needs key_file (a client certificate goes with its key)") }
        if m.keyFile != nil, m.certFile == nil {
            fail("outputs.mqtt.key_file", "needs cert_file (a client key goes with its certificate)")
        }
        if m.certFile != nil, m.caFile == nil { fail(cert, "needs ca_file (TLS is turned on by ca_file)") }
        if let pf = m.passwordFile, !p.isInvalid("outputs.mqtt.password_file") {
            if m.password != nil { fail("outputs.mqtt.password_file", "set either password or password_file, not both") } else {
                do { c.mqtt.password = try readPassword(pf, env: env) } catch {
                    errors.append(c.error("outputs.mqtt.password_file", "\(error)"))
                }
            }
        }
        if m.password != nil || m.passwordFile != nil, m.username == nil {
            fail(m.passwordFile != nil ? "outputs.mqtt.password_file" : "outputs.mqtt.password",
                 "needs username (the broker is sent no credentials without one)")
        }
    }

    /// The password file's contents without trailing newlines. A leading $CREDENTIALS_DIRECTORY
    /// (or ${CREDENTIALS_DIRECTORY}) is replaced by that variable, which systemd sets for a unit
    /// with LoadCredential=.
    public static func readPassword(_ path: String, env: [String: String]) throws -> String {
        var resolved = path
        for v in ["$CREDENTIALS_DIRECTORY", "${CREDENTIALS_DIRECTORY}"] where path == v || path.hasPrefix(v + "/") {
            guard let dir = env["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
                throw FileProblem("\(path) uses $CREDENTIALS_DIRECTORY, which is not set "
                                  + "(systemd sets it for LoadCredential=)")
            }
            resolved = dir + path.dropFirst(v.count)
        }
        let bytes: [UInt8]
        do { bytes = try readFile(resolved, limit: 65536, what: "password file").0 } catch {
            throw FileProblem("\(resolved): \(error)")
        }
        guard var s = String(validating: bytes, as: UTF8.self) else { throw FileProblem("\(resolved) is not UTF-8 text") }
        while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
        guard !s.isEmpty else { throw FileProblem("\(resolved) is empty") }
        guard !s.unicodeScalars.contains(where: { $0 == "\0" || $0 == "\n" }) else {
            throw FileProblem("\(resolved) must hold the password on one line (no NUL or inner newline)")
        }
        return s
    }

    // MARK: http

    /// The token from `http.token_file`, in the form `http.token` takes (it goes into a header).
    static func httpToken(_ path: String, inline: String?, env: [String: String]) throws -> String {
        guard inline == nil else { throw FileProblem("set either token or token_file, not both") }
        let t = try readPassword(path, env: env)
        guard (8...256).contains(t.utf8.count), t.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 && $0 != ":" }) else {
            throw FileProblem("\(path): the token must be 8-256 printable ASCII characters without spaces or ':'")
        }
        return t
    }

    // MARK: metrics

    /// The metrics endpoint binds IPv4 only: a hostname is resolved to its IPv4 address here,
    /// once, so `run` binds exactly what was checked.
    static func resolveListen(_ listen: String) throws -> String {
        guard let hp = HostPort(listen: listen) else { throw FileProblem("invalid address '\(listen)'") }
        switch hp.kind {
        case .ipv4: return listen
        case .ipv6:
            // (The wording predates the HTTP server; tests and scripts match it.)
            throw FileProblem("IPv6 addresses are not supported by the metrics endpoint yet; use an IPv4 address "
                              + "(127.0.0.1:\(hp.port)) or a hostname with an IPv4 address")
        case .hostname:
            var hints = addrinfo(), res: UnsafeMutablePointer<addrinfo>? = nil
            hints.ai_family = AF_INET; hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            let rc = getaddrinfo(hp.host, nil, &hints, &res)
            guard rc == 0, let first = res else {
                throw FileProblem(
                    "cannot resolve \(hp.host) to an IPv4 address: \(String(cString: gai_strerror(rc)))")
            }
            defer { freeaddrinfo(res) }
            var addr = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count))
            return "\(String(cString: buf)):\(hp.port)"
        }
    }
}

/// strerror(errno), for messages.
func errnoText() -> String { String(cString: strerror(errno)) }
