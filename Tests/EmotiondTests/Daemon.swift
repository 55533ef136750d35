import Foundation
import XCTest

/// A background child process whose stdout/stderr go to files (for long-running daemons).
final class Child {
    let process = Process()
    let stderrPath: String
    init(_ exe: String, _ args: [String], env: [String: String] = [:], dir: URL, name: String) throws {
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = args
        process.currentDirectoryURL = CLI.root
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        process.environment = e
        stderrPath = dir.appendingPathComponent("\(name).stderr").path
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let out = dir.appendingPathComponent("\(name).stdout").path
        FileManager.default.createFile(atPath: out, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    func signal(_ s: Int32) { kill(process.processIdentifier, s) }
    /// Waits for exit up to `timeout` seconds; returns the exit status or nil if still running.
    func wait(_ timeout: Double) -> Int32? {
        let end = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < end { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }
    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
}

/// A real mosquitto broker on a random loopback port.
final class Broker {
    let port: Int
    var child: Child?
    let dir: URL
    init(dir: URL) throws {
        self.dir = dir
        port = Int.random(in: 20000...60000)
        try start()
    }
    func start() throws {
        let conf = dir.appendingPathComponent("mosquitto.conf")
        try "listener \(port) 127.0.0.1\nallow_anonymous true\npersistence false\n".write(to: conf, atomically: true, encoding: .utf8)
        child = try Child("/usr/sbin/mosquitto", ["-c", conf.path], dir: dir, name: "mosquitto")
        // Ready when the port accepts connections.
        let end = Date().addingTimeInterval(5)
        while Date() < end {
            if (try? CLI.run(["-h", "127.0.0.1", "-p", "\(port)", "-t", "probe", "-m", "x"], executable: "/usr/bin/mosquitto_pub"))?.status == 0 { return }
            usleep(50_000)
        }
        XCTFail("mosquitto did not start on port \(port)")
    }
    func stop() { child?.signal(SIGKILL); _ = child?.wait(5); child = nil }
}

/// mosquitto_sub writing "topic payload" lines to a file.
final class Subscriber {
    let child: Child
    let path: String
    /// `user`/`password`: for a broker that requires them (AuthBroker).
    init(port: Int, topic: String, dir: URL, name: String = "sub", user: String? = nil, password: String? = nil) throws {
        let auth = user.map { ["-u", $0, "-P", password ?? ""] } ?? []
        child = try Child("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(port)"] + auth
                          + ["-t", topic, "-v", "-q", "1"], dir: dir, name: name)
        path = dir.appendingPathComponent("\(name).stdout").path
        usleep(300_000)
    }
    var messages: [(topic: String, payload: String)] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map { l in
            let parts = l.split(separator: " ", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }
    func waitFor(_ timeout: Double, _ pred: ([(topic: String, payload: String)]) -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if pred(messages) { return true }; usleep(100_000) }
        return pred(messages)
    }
}
