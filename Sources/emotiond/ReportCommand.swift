import ArgumentParser
import Foundation
import History
import Settings
import Web

/// `emotiond report`: the event history summarised (faces, time per emotion), as GET /api/report
/// gives it, from the history file directly (the daemon may be running: SQLite's WAL lets both read).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Summarise the event history (history.path): faces and time per emotion over a range.")
    @Option(help: "The event history file (the daemon's history.path).") var history: String
    @Option(help: "From this UTC time, e.g. 2026-01-31T08:00:00Z.") var since: String?
    @Option(help: "Until this UTC time (default: now).") var until: String?
    @Option(help: "Only this camera.") var camera: String?
    @Option(help: "Also a timeline: the shares per bucket of this size (seconds, or 5m, 1h, 1d).") var bucket: String?
    @Flag(help: "Print JSON (schemas/api-report.schema.json) instead of text.") var json = false

    func run() throws {
        guard FileManager.default.isReadableFile(atPath: history) else { throw RunError("\(history): no such (readable) file") }
        let params = [("camera", camera), ("since", since), ("until", until), ("bucket", bucket)].compactMap { k, v in v.map { "\(k)=\($0)" } }
        let report: EventReport
        do {
            let q = try EventsQuery.parse(params.joined(separator: "&"), allowed: EventsQuery.report)
            report = try EventHistory(path: history, keepDays: Limits.historyKeepDays.upperBound, prune: false).report(q)
        } catch { throw RunError("\(error)") }
        print(json ? try Self.json(report) : Self.text(report))
    }

    static func json(_ r: EventReport) throws -> String {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return String(decoding: try e.encode(r), as: UTF8.self)
    }

    /// One line per emotion with a bar of its share, longest first.
    static func text(_ r: EventReport) -> String {
        let range = "\(r.since ?? "start")…\(r.until ?? "now")" + (r.camera.map { ", camera \($0)" } ?? "")
        var lines = ["\(r.faces) face(s), \(r.events) event(s) (\(range))"]
        let total = max(r.seconds.values.reduce(0, +), 1e-9)
        for (label, s) in r.seconds.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
            let bar = String(repeating: "█", count: Int((s / total * 30).rounded()))
            let name = label.padding(toLength: 9, withPad: " ", startingAt: 0)
            lines.append("  \(name)" + String(format: " %9.1f s  %5.1f %%  ", s, s / total * 100) + bar)
        }
        lines.append("dominant: \(r.dominant ?? "none")")
        return (lines + timeline(r)).joined(separator: "\n")
    }

    /// One line per bucket: its start and its emotions by share, largest first (a dash: no face).
    static func timeline(_ r: EventReport) -> [String] {
        guard let buckets = r.buckets, let size = r.bucket else { return [] }
        return ["timeline (\(size) s buckets):"] + buckets.map { b in
            let shown = b.shares.filter { $0.value > 0 }.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            let text = shown.map { "\($0.key) \(Int(($0.value * 100).rounded())) %" }.joined(separator: ", ")
            return "  \(b.start)  " + (text.isEmpty ? "-" : text)
        }
    }
}
