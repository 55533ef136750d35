import Foundation
import XCTest

/// Runs the built `emotiond` binary (scripts/test.sh builds it with `swift build -c release`).
enum CLI {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: String { ProcessInfo.processInfo.environment["EMOTIOND_BIN"] ?? root.appendingPathComponent(".build/release/emotiond").path }
    static func media(_ name: String) -> String { root.appendingPathComponent("media/\(name)").path }
    static var python: String { root.appendingPathComponent(".venv/bin/python").path }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    @discardableResult
    static func run(_ args: [String], executable: String? = nil, env: [String: String] = [:], cwd: String? = nil) throws -> Result {
        let exe = executable ?? binary
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            XCTFail("\(exe) not found: build it first (scripts/test.sh runs swift build -c release)")
            throw CocoaError(.fileNoSuchFile)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? root.path)
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        // Drain both pipes concurrently so a chatty child never blocks. The group's wait orders
        // the reader's store before our load (the box only tells the compiler so).
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let g = DispatchGroup()
        g.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); g.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        g.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    static func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("emotiond-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// Validates NDJSON (or one JSON document) against a schema with Python's jsonschema.
    static func validate(_ file: String, schema: String, whole: Bool = false) throws -> Result {
        try run([root.appendingPathComponent("tools/validate_json.py").path, root.appendingPathComponent("schemas/\(schema)").path, file] + (whole ? ["--whole"] : []), executable: python)
    }

    /// The whole lines of a log that a running process is still appending to. A concurrent
    /// read(2) may see part of a write(2) in progress (Linux copies a buffered write page by
    /// page and grows the size as it goes), so the text after the last newline is not yet a
    /// line; the daemon's own guarantee (no torn line at rest) is tested after SIGKILL.
    static func linesSoFar(_ path: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try objects(data[..<(data.lastIndex(of: 0x0A) ?? data.startIndex)])
    }

    /// Every line of a finished NDJSON file (a torn line fails the parse).
    static func lines(_ path: String) throws -> [[String: Any]] {
        try objects(Data(contentsOf: URL(fileURLWithPath: path))[...])
    }

    private static func objects(_ text: Data.SubSequence) throws -> [[String: Any]] {
        try text.split(separator: 0x0A).map { try JSONSerialization.jsonObject(with: Data($0)) as! [String: Any] }
    }
}

/// A test with a temporary directory of its own (removed after it), the configuration files it
/// writes there, and polling for a condition: what the daemon tests share.
class TempDirTestCase: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.tempDir() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ text: String, _ name: String = "emotiond.yaml") throws -> String {
        let p = dir.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// Waits until `pred` holds (polling every 0.1 s), up to `timeout` seconds.
    func eventually(_ timeout: Double, _ pred: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if try pred() { return true }; usleep(100_000) }
        return try pred()
    }
}
