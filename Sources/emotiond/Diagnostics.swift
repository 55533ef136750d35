import Foundation
import Logging
import Settings

/// Diagnostics of every command, through swift-log. Bootstrapped in main.swift before anything
/// logs; other modules (Sinks) get this logger handed to them.
let logger = Logger(label: "emotiond")

/// swift-log handler writing one plain line per message to stderr, as emotiond always printed
/// them (tests and users read these lines). Under systemd (`JOURNAL_STREAM` set, stderr connected
/// to the journal) each line starts with its syslog priority (`<3>` error … `<7>` debug, see
/// sd-daemon(3)), so `journalctl -p warning -u emotiond` shows only what needs attention.
/// `EMOTIOND_LOG_LEVEL` (trace … critical) sets the threshold; default info.
struct StderrLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let journal: Bool

    init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        logLevel = env["EMOTIOND_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        journal = env["JOURNAL_STREAM"] != nil
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Credentials in a source URL never reach the journal: every line is redacted here too, as a
    /// last guard behind the redaction where messages are made.
    func log(event: LogEvent) {
        let line = (journal ? "<\(Self.priority(event.level))>" : "") + Credentials.redact("\(event.message)") + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}

/// User-facing text on stderr that is not a diagnostic (a summary printed while stdout carries
/// data); never filtered by level.
func printToStderr(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
