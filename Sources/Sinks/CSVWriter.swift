import EmotionCore
import Foundation

/// `batch --csv`: one row per reported face per frame, for spreadsheets. Columns: source, frame,
/// media_time, track, x, y, width, height, label, confidence, raw_label, then `score_<label>` (this
/// frame's scores) and `smoothed_<label>` (the track's smoothed scores) for every label — the
/// same values as the NDJSON `faces` entries.
///
/// Written by hand rather than with a CSV package: every field is a number or a label name
/// except `source`, which gets RFC 4180 quoting; that one function is all a library would add.
public final class CSVWriter {
    private let out: NDJSONWriter   // the atomic file (temporary until commit) it already wraps
    /// The model's labels, in its output order (the score columns).
    private let labels: [String]

    public init(path: String, labels: LabelSet = .fer2013) throws {
        out = try NDJSONWriter(path: path)
        self.labels = labels.names
        let head = ["source", "frame", "media_time", "track", "x", "y", "width", "height", "label", "confidence",
                    "raw_label"] + self.labels.map { "score_\($0)" } + self.labels.map { "smoothed_\($0)" }
        try out.file.write(Data((head.joined(separator: ",") + "\r\n").utf8))
    }

    public func write(_ r: FrameResult) throws {
        guard !r.faces.isEmpty else { return }
        var text = ""
        for f in r.faces {
            var row = [Self.quoted(r.source), "\(r.frame)", Self.number(r.mediaTime), "\(f.track)", "\(f.box.x)",
                       "\(f.box.y)", "\(f.box.width)", "\(f.box.height)", f.label, Self.number(f.confidence), f.rawLabel]
            row += labels.map { Self.number(f.scores[$0] ?? 0) } + labels.map { Self.number(f.smoothed[$0] ?? 0) }
            text += row.joined(separator: ",") + "\r\n"
        }
        try out.file.write(Data(text.utf8))
    }

    public func commit() throws { try out.commit() }
    public func abort() { out.abort() }

    /// Shortest text that reads back as the same value (Swift's description), as in the NDJSON.
    static func number<T: BinaryFloatingPoint & CustomStringConvertible>(_ v: T) -> String { v.description }

    static func quoted(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
