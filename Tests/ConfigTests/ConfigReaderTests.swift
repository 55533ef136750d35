import Foundation
import Settings
import XCTest
@testable import Config

/// The configuration reader in-process: defaults, ranges, collected and located errors,
/// did-you-mean, input limits, and the start checks shared by check-config and run.
final class ConfigReaderTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("config-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func errors(_ yaml: String) -> [ConfigError] { ConfigLoader.decode(Array(yaml.utf8), file: "t.yaml").errors }
    func messages(_ yaml: String) -> [String] { errors(yaml).map(\.description) }

    func write(_ text: String, _ name: String = "c.yaml", mode: Int = 0o600) throws -> String {
        let p = dir.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: false, encoding: .utf8)
        chmod(p, mode_t(mode))
        return p
    }

    // MARK: values

    func testEmptyFileAndShippedExampleAreTheDefaults() throws {
        var d = EmotiondConfig(); d.file = "t.yaml"
        XCTAssertEqual(try ConfigLoader.parse("", file: "t.yaml"), d)
        // config/emotiond.yaml documents every key with its default value.
        let shipped = try String(contentsOf: Self.root.appendingPathComponent("config/emotiond.yaml"), encoding: .utf8)
        var c = try ConfigLoader.parse(shipped, file: "t.yaml")
        XCTAssertGreaterThan(c.origin.count, 40)
        c.origin = [:]
        XCTAssertEqual(c, d)
        XCTAssertEqual(c.detector.minSize, 48)
    }

    func testValuesAreRead() throws {
        let c = try ConfigLoader.parse("""
        camera: {name: cam-1, fps: 15, timeout: 2.5, format: mjpeg}
        detector: {kind: lbp, scale: 1, full_detect_every: 5}
        model: {crop_margin: 0.2, flip_tta: yes}
        outputs:
          mqtt: {enabled: true, host: "::1", port: 8883, topic_prefix: a/b, qos: 2}
          metrics: {listen: "[::1]:9464"}
        """, file: "t.yaml")
        XCTAssertEqual(c.camera.name, "cam-1"); XCTAssertEqual(c.camera.fps, 15); XCTAssertEqual(c.camera.timeout, 2.5)
        XCTAssertEqual(c.detector.kind, .lbp); XCTAssertEqual(c.fullDetectEvery, 5); XCTAssertEqual(c.model.cropMargin, 0.2)
        XCTAssertEqual(c.model.flipTTA, true); XCTAssertEqual(c.mqtt.host, "::1"); XCTAssertEqual(c.mqtt.qos, 2)
        XCTAssertEqual(c.metrics.listen, "[::1]:9464")
        XCTAssertEqual(c.origin["outputs.mqtt.port"], 5)
    }

    /// TTA: `model` (the default) defers to the model's metadata; none/flip force it; the older
    /// flip_tta still reads. Label hysteresis keys reach the tracker settings.
    func testTTAAndHysteresisKeys() throws {
        XCTAssertNil(try ConfigLoader.parse("", file: "t.yaml").model.flipTTA)
        XCTAssertNil(try ConfigLoader.parse("model: {tta: model}", file: "t.yaml").model.flipTTA)
        XCTAssertEqual(try ConfigLoader.parse("model: {tta: flip}", file: "t.yaml").model.flipTTA, true)
        XCTAssertEqual(try ConfigLoader.parse("model: {tta: none}", file: "t.yaml").model.flipTTA, false)
        XCTAssertEqual(try ConfigLoader.parse("model: {flip_tta: no}", file: "t.yaml").model.flipTTA, false)
        let t = try ConfigLoader.parse("tracking: {change_margin: 0.3, change_dwell: 2.5}", file: "t.yaml").tracking
        XCTAssertEqual(t.changeMargin, 0.3); XCTAssertEqual(t.changeDwell, 2.5)
        XCTAssertEqual(messages("tracking:\n  change_dwell: -1\n"),
                       ["t.yaml:2: tracking.change_dwell: must be a number in 0...3600, got '-1'"])
        XCTAssertEqual(messages("model:\n  tta: mirror\n").count, 1)
    }

    func testRangesAndAllowedFormsInMessages() {
        XCTAssertEqual(messages("camera:\n  fps: 0\n"), ["t.yaml:2: camera.fps: must be an integer in 1...240, got '0'"])
        XCTAssertEqual(messages("detector:\n  scale: nan\n"), ["t.yaml:2: detector.scale: must be a number in 0.05...1, got 'nan'"])
        XCTAssertEqual(messages("model:\n  crop_margin: -0.1\n"), ["t.yaml:2: model.crop_margin: must be a number in 0...1, got '-0.1'"])
        XCTAssertEqual(messages("tracking:\n  max_age: [1]\n"),
                       ["t.yaml:2: tracking.max_age: expected a single value (an integer in 0...10000), got a list or mapping"])
        XCTAssertEqual(messages("camera:\n  format: rgb\n"), ["t.yaml:2: camera.format: must be one of auto, yuyv, mjpeg, grey, got 'rgb'"])
        XCTAssertEqual(messages("model:\n  flip_tta: 2\n"), ["t.yaml:2: model.flip_tta: must be true or false, got '2'"])
        XCTAssertEqual(messages("camera:\n  name: a/b\n"), ["t.yaml:2: camera.name: must be 1-64 letters, digits, '_' or '-', got 'a/b'"])
        XCTAssertEqual(messages("outputs:\n  mqtt:\n    client_id: ''\n"),
                       ["t.yaml:3: outputs.mqtt.client_id: must not be empty (allowed: text of 1-65535 bytes without control characters)"])
        XCTAssertEqual(messages("outputs:\n  mqtt:\n    host: 300.1.1.1\n").count, 1)
        let long = messages("outputs:\n  mqtt:\n    topic_prefix: \(String(repeating: "t", count: 70000))\n")
        XCTAssertEqual(long, ["t.yaml:3: outputs.mqtt.topic_prefix: must be 1-65000 bytes without '#', '+' or control characters, "
                              + "got '\(String(repeating: "t", count: 40))…' (70000 bytes)"])
    }

    /// The MQTT sink's keys: state refresh and Home Assistant discovery. They change what the sink
    /// publishes, not the connection, so a reload changing them keeps the publisher.
    func testStateRefreshAndDiscoveryKeys() throws {
        let d = EmotiondConfig().mqtt
        XCTAssertEqual(d.stateInterval, 5); XCTAssertTrue(d.homeAssistant); XCTAssertEqual(d.discoveryPrefix, "homeassistant")
        let c = try ConfigLoader.parse("outputs:\n  mqtt: {state_interval: 0, homeassistant: false, discovery_prefix: ha/test}\n",
                                       file: "t.yaml").mqtt
        XCTAssertEqual(c.stateInterval, 0); XCTAssertFalse(c.homeAssistant); XCTAssertEqual(c.discoveryPrefix, "ha/test")
        XCTAssertEqual(messages("outputs:\n  mqtt:\n    state_interval: -1\n"),
                       ["t.yaml:3: outputs.mqtt.state_interval: must be a number in 0...86400, got '-1'"])
        XCTAssertEqual(messages("outputs:\n  mqtt:\n    homeassistant: maybe\n"),
                       ["t.yaml:3: outputs.mqtt.homeassistant: must be true or false, got 'maybe'"])
        XCTAssertEqual(messages("outputs:\n  mqtt:\n    discovery_prefix: 'ha/#'\n"),
                       ["t.yaml:3: outputs.mqtt.discovery_prefix: must be 1-1000 bytes without '#', '+' or control characters, got 'ha/#'"])
        XCTAssertEqual(messages("outputs:\n  mqtt:\n    discovery_prefix: ''\n").count, 1)
        XCTAssertEqual(messages("outputs:\n  mqtt:\n    home_assistant: true\n"),
                       ["t.yaml:3: outputs.mqtt.home_assistant: unknown key (did you mean 'homeassistant'?)"])
        XCTAssertTrue(c.sameConnection(as: d))
        var other = d; other.host = "broker.example"
        XCTAssertFalse(other.sameConnection(as: d))
    }

    func testListenForms() {
        for ok in ["127.0.0.1:9464", "[::1]:9464", "localhost:1", "metrics.example.org:65535"] {
            XCTAssertEqual(messages("outputs:\n  metrics:\n    listen: \"\(ok)\"\n"), [], ok)
        }
        for bad in ["999.1.1.1:1", "127.0.0.1:99999", "127.0.0.1:0", "::1:9464", "[::1]", "host", "a_b:80", "[1.2.3.4]:80"] {
            let m = messages("outputs:\n  metrics:\n    listen: \"\(bad)\"\n")
            XCTAssertEqual(m.count, 1, bad)
            XCTAssertTrue(m.first?.contains("IPv6 address in brackets ([::1]) or a hostname (localhost), got '\(bad)'") ?? false, "\(m)")
        }
    }

    /// The HTTP server's section (issue #18): off by default, every key ranged, the address
    /// resolved and checked like the metrics one, and not the metrics address as well.
    func testHTTPKeys() throws {
        let d = EmotiondConfig().http
        XCTAssertNil(d.listen); XCTAssertNil(d.token); XCTAssertEqual(d.mjpegFPS, 5); XCTAssertEqual(d.jpegQuality, 80)
        let c = try ConfigLoader.parse("http: {listen: \"127.0.0.1:8080\", token: abc-DEF_123, mjpeg_fps: 12, jpeg_quality: 60}\n",
                                       file: "t.yaml").http
        XCTAssertEqual(c.listen, "127.0.0.1:8080"); XCTAssertEqual(c.token, "abc-DEF_123")
        XCTAssertEqual(c.mjpegFPS, 12); XCTAssertEqual(c.jpegQuality, 60)
        XCTAssertEqual(messages("http:\n  mjpeg_fps: 0\n"), ["t.yaml:2: http.mjpeg_fps: must be an integer in 1...30, got '0'"])
        XCTAssertEqual(messages("http:\n  jpeg_quality: 101\n"), ["t.yaml:2: http.jpeg_quality: must be an integer in 10...100, got '101'"])
        for bad in ["short", "with space inside", "user:password"] {
            XCTAssertEqual(messages("http:\n  token: '\(bad)'\n"),
                           ["t.yaml:2: http.token: must be 8-256 printable ASCII characters without spaces or ':', got '\(bad)'"], bad)
        }
        XCTAssertEqual(messages("http:\n  listen: 127.0.0.1:0\n").count, 1)
        XCTAssertTrue(messages("http:\n  port: 8080\n").first?.contains("http.port: unknown key") ?? false)
        XCTAssertEqual(try startErrors("http:\n  listen: localhost:8080\n"), [])
        XCTAssertEqual(try startErrors("http:\n  listen: localhost:9464\noutputs:\n  metrics:\n    listen: 127.0.0.1:9464\n"),
                       ["4: http.listen: is also outputs.metrics.listen; the HTTP server serves /metrics too: set http.listen alone"])
    }

    func testHTTPTokenFile() throws {
        let tf = try write("tok-12345678\n", "token")
        let fifo = dir.appendingPathComponent("src-t").path
        mkfifo(fifo, 0o600)
        var p = ConfigLoader.read(path: try write("camera:\n  source: \(fifo)\nhttp:\n  token_file: \(tf)\n", "t.yaml"))
        StartChecks.run(&p, env: [:])
        XCTAssertEqual(p.errors, []); XCTAssertEqual(p.config.http.token, "tok-12345678")
        XCTAssertEqual(try startErrors("http:\n  token: abcdefgh1\n  token_file: \(tf)\n"),
                       ["5: http.token_file: set either token or token_file, not both"])
        let short = try write("short\n", "short")
        XCTAssertEqual(try startErrors("http:\n  token_file: \(short)\n"),
                       ["4: http.token_file: \(short): the token must be 8-256 printable ASCII characters without spaces or ':'"])
    }

    func testHistoryKeys() throws {
        XCTAssertNil(EmotiondConfig().history.path); XCTAssertEqual(EmotiondConfig().history.keepDays, 30)
        let c = try ConfigLoader.parse("history: {path: /var/lib/emotiond/events.sqlite, keep_days: 7}\n", file: "t.yaml").history
        XCTAssertEqual(c.path, "/var/lib/emotiond/events.sqlite"); XCTAssertEqual(c.keepDays, 7)
        XCTAssertEqual(messages("history:\n  keep_days: 0\n"), ["t.yaml:2: history.keep_days: must be an integer in 1...3650, got '0'"])
        XCTAssertNil(EmotiondConfig().history.maxMB)
        XCTAssertEqual(try ConfigLoader.parse("history:\n  max_mb: 512\n", file: "t.yaml").history.maxMB, 512)
        XCTAssertNil(try ConfigLoader.parse("history:\n  max_mb: null\n", file: "t.yaml").history.maxMB)
        for bad in ["0", "-5", "1.5", "2000000", "lots", "'64'"] {
            XCTAssertEqual(messages("history:\n  path: /tmp/e.sqlite\n  max_mb: \(bad)\n"),
                           ["t.yaml:3: history.max_mb: must be null (no cap) or an integer in 1...1048576, got '\(bad.trimmingCharacters(in: ["'"]))'"], bad)
        }
        XCTAssertEqual(try startErrors("history:\n  path: \(dir.path)/none/e.sqlite\n"),
                       ["4: history.path: cannot create \(dir.path)/none/e.sqlite: directory \(dir.path)/none does not exist (create it first)"])
        XCTAssertEqual(try startErrors("history:\n  path: \(dir.path)/e.sqlite\n"), [])
    }

    func testNoticeKeys() throws {
        XCTAssertEqual(EmotiondConfig().notices.sustainedSeconds, 0); XCTAssertEqual(EmotiondConfig().notices.labels, ["angry", "fear", "sad"])
        let c = try ConfigLoader.parse("notices: {sustained_seconds: 60, labels: \"sad,happy\"}\n", file: "t.yaml").notices
        XCTAssertEqual(c.sustainedSeconds, 60); XCTAssertEqual(c.labels, ["sad", "happy"])
        XCTAssertEqual(messages("notices:\n  labels: sad, happy\n").count, 1)
        XCTAssertEqual(messages("notices:\n  labels: joy\n").first?.hasPrefix("t.yaml:2: notices.labels: must be comma-separated labels"), true)
        XCTAssertEqual(messages("notices:\n  sustained_seconds: -1\n"),
                       ["t.yaml:2: notices.sustained_seconds: must be a number in 0...86400, got '-1'"])
    }

    func testListenHostnameIsResolvedToIPv4() throws {
        XCTAssertEqual(try StartChecks.resolveListen("localhost:9464"), "127.0.0.1:9464")
        XCTAssertEqual(try StartChecks.resolveListen("10.1.2.3:80"), "10.1.2.3:80")
        XCTAssertThrowsError(try StartChecks.resolveListen("no-such-host.invalid:80"))
    }

    // MARK: collected errors and did-you-mean

    func testEveryProblemIsReportedWithItsLine() {
        let e = errors("""
        camera:
          fsp: 30
          name: "a b"
        detector:
          min_neighbors: lots
        trackng:
          max_age: 3
        outputs:
          log: 5
          mqtt:
            qos: 3
            qos: 1
        """)
        XCTAssertEqual(e.map(\.description), [
            "t.yaml:2: camera.fsp: unknown key (did you mean 'fps'?)",
            "t.yaml:3: camera.name: must be 1-64 letters, digits, '_' or '-', got 'a b'",
            "t.yaml:5: detector.min_neighbors: must be an integer in 0...50, got 'lots'",
            "t.yaml:6: trackng: unknown key (did you mean 'tracking'?)",
            "t.yaml:9: outputs.log: expected a mapping (key: value lines) of path, max_bytes, keep, flush_every",
            "t.yaml:11: outputs.mqtt.qos: must be an integer in 0...2, got '3'",
            "t.yaml:12: outputs.mqtt.qos: duplicate key (each key once per section)",
        ])
        let all = ConfigErrors(e).description.split(separator: "\n")
        XCTAssertEqual(all.first, "t.yaml: 7 problems")
        XCTAssertEqual(all.count, 8)
    }

    func testThousandsOfProblemsAreSummarised() {
        let e = errors((0..<3000).map { "k\($0): 1\n" }.joined())
        XCTAssertEqual(e.count, 3000)
        let text = ConfigErrors(e).description.split(separator: "\n")
        XCTAssertEqual(text.count, 1 + ConfigErrors.shown + 1)
        XCTAssertEqual(text.first, "t.yaml: 3000 problems")
        XCTAssertEqual(text.last, "... and 2950 more")
    }

    func testDidYouMean() {
        XCTAssertEqual(messages("detector:\n  sclae: 0.5\n"), ["t.yaml:2: detector.sclae: unknown key (did you mean 'scale'?)"])
        XCTAssertEqual(messages("detector:\n  scale-factor: 1.2\n"), ["t.yaml:2: detector.scale-factor: unknown key (did you mean 'scale_factor'?)"])
        XCTAssertEqual(messages("camera:\n  full_detect_every: 5\n"),
                       ["t.yaml:2: camera.full_detect_every: unknown key here (did you mean 'detector.full_detect_every'?)"])
        XCTAssertEqual(messages("outputs:\n  bogus: 1\n"), ["t.yaml:2: outputs.bogus: unknown key (allowed in outputs: log, mqtt, metrics)"])
        XCTAssertEqual(Schema.editDistance(Array("fsp".unicodeScalars), Array("fps".unicodeScalars)), 1)
        XCTAssertEqual(Schema.editDistance(Array("kitten".unicodeScalars), Array("sitting".unicodeScalars)), 3)
    }

    // MARK: limits before parsing

    func testDeepNestingIsRefusedBeforeParsing() {
        let flow = "a: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        XCTAssertEqual(messages(flow), ["t.yaml:1: YAML nested deeper than 64 levels (the configuration's keys are 3 deep)"])
        let seq = String(repeating: "- ", count: 5000) + "x\n"
        XCTAssertEqual(errors(seq).map(\.line), [1])
        let mappings = (0..<1000).map { String(repeating: " ", count: $0) + "k:\n" }.joined()
        XCTAssertEqual(messages(mappings), ["t.yaml:65: YAML nested deeper than 64 levels (the configuration's keys are 3 deep)"])
        // Exactly at the limit: parsed (and refused for its unknown keys, not its depth).
        let at = "a: " + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "\n"
        XCTAssertEqual(messages(at).count, 1)
        XCTAssertTrue(messages(at)[0].contains("a: unknown key"), messages(at)[0])
        let over = "a: " + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "\n"
        XCTAssertTrue(messages(over)[0].contains("nested deeper than 64"), messages(over)[0])
        // Brackets inside strings and comments are not nesting.
        XCTAssertEqual(messages("camera:\n  name: \"\(String(repeating: "[", count: 100))\"  # \(String(repeating: "{", count: 100))\n").count, 1)
        XCTAssertFalse(messages("camera:\n  name: \"\(String(repeating: "[", count: 100))\"\n")[0].contains("nested"))
    }

    func testSizeAndEncodingLimits() throws {
        let big = "# " + String(repeating: "x", count: Limits.configBytes) + "\n"
        XCTAssertEqual(messages(big), ["t.yaml: file is larger than 1 MiB (1048579 bytes); configurations are small YAML files"])
        XCTAssertEqual(ConfigLoader.decode(Array("camera:\n  name: a\n".utf8) + [0xFF, 0x0A], file: "t.yaml").errors.map(\.description),
                       ["t.yaml:3: not UTF-8 text (invalid bytes on this line); save the file as UTF-8"])
        XCTAssertEqual(ConfigLoader.decode([0xEF, 0xBB, 0xBF] + Array("camera:\n  fps: 15\n".utf8), file: "t.yaml").config.camera.fps, 15)
        XCTAssertEqual(messages("camera:\n  name: a\u{0}b\n"), ["t.yaml:2: YAML syntax error: control characters are not allowed"])
        // Through the file reader: over-size files are cut off at the limit, not read whole.
        let p = try write(big)
        XCTAssertEqual(ConfigLoader.read(path: p).errors.map(\.message), ["is larger than 1 MiB; the configuration is refused"])
    }

    func testNonRegularConfigFilesAreRefusedWithoutBlocking() throws {
        let fifo = dir.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let start = Date()
        XCTAssertEqual(ConfigLoader.read(path: fifo).errors.map(\.description),
                       ["\(fifo): is a FIFO, not a regular file; the configuration must be a regular file"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "a FIFO without a writer must not block")
        XCTAssertEqual(ConfigLoader.read(path: dir.path).errors.map(\.message),
                       ["is a directory, not a regular file; the configuration must be a regular file"])
        XCTAssertEqual(ConfigLoader.read(path: "/dev/null").errors.map(\.message),
                       ["is a character device, not a regular file; the configuration must be a regular file"])
        XCTAssertEqual(ConfigLoader.read(path: dir.appendingPathComponent("none").path).errors.map(\.message), ["no such file"])
    }

    // MARK: start checks (the ones check-config and run share)

    /// Start-check errors for `yaml` (its camera a FIFO source: a stream, not opened by the check).
    func startErrors(_ yaml: String, env: [String: String] = [:]) throws -> [String] {
        let fifo = dir.appendingPathComponent("src-\(UUID().uuidString)").path
        mkfifo(fifo, 0o600)
        var p = ConfigLoader.read(path: try write("camera:\n  source: \(fifo)\n" + yaml, "s-\(UUID().uuidString).yaml"))
        StartChecks.run(&p, env: env)
        return p.errors.map { "\($0.line): \($0.key): \($0.message)" }
    }

    func testStartChecksRefuseWhatRunWouldRefuse() throws {
        let d = dir.path
        XCTAssertEqual(try startErrors("outputs:\n  log:\n    path: \(d)\n"),
                       ["5: outputs.log.path: \(d) is a directory; give a file path in it, e.g. \(d)/frames.ndjson"])
        XCTAssertEqual(try startErrors("outputs:\n  log:\n    path: \(d)/no/f.ndjson\n"),
                       ["5: outputs.log.path: cannot create \(d)/no/f.ndjson: directory \(d)/no does not exist (create it first)"])
        symlink("/etc/hostname", "\(d)/link")
        XCTAssertEqual(try startErrors("outputs:\n  log:\n    path: \(d)/link\n"),
                       ["5: outputs.log.path: \(d)/link is a symbolic link; logs are not written through links (give the target's path)"])
        XCTAssertEqual(try startErrors("outputs:\n  log:\n    path: \(d)/new.ndjson\n"), [])
        XCTAssertEqual(try startErrors("outputs:\n  mqtt:\n    enabled: true\n    ca_file: /nonexistent/ca.pem\n"),
                       ["6: outputs.mqtt.ca_file: /nonexistent/ca.pem: no such file"])
        let pem = try write("x", "c.pem")
        XCTAssertEqual(try startErrors("outputs:\n  mqtt:\n    enabled: true\n    ca_file: \(pem)\n    cert_file: \(pem)\n"),
                       ["7: outputs.mqtt.cert_file: needs key_file (a client certificate goes with its key)"])
        XCTAssertEqual(try startErrors("outputs:\n  mqtt:\n    enabled: false\n    ca_file: /nonexistent/ca.pem\n"), [],
                       "MQTT off: run opens none of its files, so neither does the check")
        XCTAssertEqual(try startErrors("privacy:\n  snapshot_dir: \(d)/nosnaps\n"),
                       ["4: privacy.snapshot_dir: \(d)/nosnaps does not exist (create it first)"])
        XCTAssertEqual(try startErrors("outputs:\n  metrics:\n    listen: localhost:9464\n").count, 0)
        XCTAssertEqual(try startErrors("outputs:\n  metrics:\n    listen: \"[::1]:9464\"\n"),
                       ["5: outputs.metrics.listen: IPv6 addresses are not supported by the metrics endpoint yet; "
                        + "use an IPv4 address (127.0.0.1:9464) or a hostname with an IPv4 address"])
    }

    func testDeviceMustBeAVideoDevice() throws {
        for (dev, why) in [("/dev/null", "/dev/null is a character device but not a V4L2 one"),
                           ("/etc/passwd", "/etc/passwd is not a video capture device with streaming I/O"),
                           (dir.path, "\(dir.path) is a directory"),
                           ("/dev/video-missing", "/dev/video-missing does not exist (no camera connected?)")] {
            var p = ConfigLoader.read(path: try write("camera:\n  device: \(dev)\n", "d-\(UUID().uuidString).yaml"))
            StartChecks.run(&p, env: [:])
            XCTAssertEqual(p.errors.count, 1, dev)
            XCTAssertEqual(p.errors.first?.line, 2)
            XCTAssertTrue(p.errors.first?.message.hasPrefix(why) ?? false, "\(p.errors)")
        }
    }

    func testChecksSkipKeysAlreadyRefused() throws {
        // A refused value is reported once, not again by a start check on its default.
        let e = try startErrors("outputs:\n  log:\n    path: ''\n  mqtt: {enabled: true, ca_file: [x]}\n")
        XCTAssertEqual(e.map { String($0.split(separator: ":")[1]) }, [" outputs.log.path", " outputs.mqtt.ca_file"], "\(e)")
        var p = ConfigLoader.read(path: try write("camera:\n  device: [1]\n"))
        StartChecks.run(&p, env: [:])
        XCTAssertEqual(p.errors.map(\.key), ["camera.device"], "no second complaint about /dev/video0")
    }

    // MARK: passwords

    func testPasswordFile() throws {
        let pw = try write("s3cret\n", "pw")
        let fifo = dir.appendingPathComponent("src").path
        mkfifo(fifo, 0o600)
        let yaml = "camera:\n  source: \(fifo)\noutputs:\n  mqtt:\n    enabled: true\n    username: u\n    password_file: %@\n"
        var p = ConfigLoader.read(path: try write(yaml.replacingOccurrences(of: "%@", with: pw)))
        StartChecks.run(&p, env: [:])
        XCTAssertEqual(p.errors, [])
        XCTAssertEqual(p.config.mqtt.password, "s3cret", "trailing newline stripped")
        // systemd LoadCredential=: the file is in $CREDENTIALS_DIRECTORY.
        p = ConfigLoader.read(path: try write(yaml.replacingOccurrences(of: "%@", with: "${CREDENTIALS_DIRECTORY}/pw")))
        StartChecks.run(&p, env: ["CREDENTIALS_DIRECTORY": dir.path])
        XCTAssertEqual(p.config.mqtt.password, "s3cret")
        p = ConfigLoader.read(path: try write(yaml.replacingOccurrences(of: "%@", with: "$CREDENTIALS_DIRECTORY/pw")))
        StartChecks.run(&p, env: [:])
        XCTAssertEqual(p.errors.map(\.description), ["\(p.config.file):7: outputs.mqtt.password_file: $CREDENTIALS_DIRECTORY/pw uses "
                                                     + "$CREDENTIALS_DIRECTORY, which is not set (systemd sets it for LoadCredential=)"])
        XCTAssertThrowsError(try StartChecks.readPassword(try write("\n", "empty"), env: [:]))
        XCTAssertThrowsError(try StartChecks.readPassword(dir.path, env: [:]))
        // Both, or a password without a user: refused.
        p = ConfigLoader.read(path: try write(yaml.replacingOccurrences(of: "%@", with: pw) + "    password: x\n"))
        StartChecks.run(&p, env: [:])
        XCTAssertEqual(p.errors.map(\.message), ["set either password or password_file, not both"])
        p = ConfigLoader.read(path: try write("camera:\n  source: \(fifo)\noutputs:\n  mqtt:\n    enabled: true\n    password: x\n"))
        StartChecks.run(&p, env: [:])
        XCTAssertEqual(p.errors.map(\.message), ["needs username (the broker is sent no credentials without one)"])
    }

    func testInlinePasswordInAWorldReadableFileIsWarnedAbout() throws {
        let yaml = "outputs:\n  mqtt:\n    username: u\n    password: x\n"
        let open = try write(yaml, "open.yaml", mode: 0o644)
        XCTAssertEqual(ConfigLoader.read(path: open).warnings, ["\(open):4: warning: outputs.mqtt.password: this file is readable by "
            + "every local user (mode 644); move the password to password_file (mode 0600, or systemd LoadCredential=) "
            + "or make the file unreadable to others (chmod o-r)"])
        XCTAssertEqual(ConfigLoader.read(path: try write(yaml, "closed.yaml", mode: 0o640)).warnings, [])
        XCTAssertEqual(ConfigLoader.read(path: try write("camera: {fps: 5}\n", "nopw.yaml", mode: 0o644)).warnings, [])
    }
}
