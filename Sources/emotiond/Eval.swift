import ArgumentParser
import Foundation
import Inference
import Pipeline

/// `emotiond eval`: accuracy of the emotion model on a FER2013-format CSV, with our engine.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate the emotion model on a FER2013-format CSV (.csv or .csv.gz).")

    @Option(name: .customLong("fer2013"), help: "FER2013 CSV (emotion,pixels,Usage), plain or gzipped.") var csv: String
    @Option(help: "Rows to use (Usage column): Training, PublicTest, PrivateTest, or 'all'.") var usage = "PublicTest"
    @Option(help: "ONNX emotion model (default: the shipped model); repeat for an ensemble (probabilities averaged).") var model: [String] = []
    @Option(help: "Test-time augmentation: none or flip (default: what the model's metadata declares).")
    var tta: TTA?
    @Flag(help: "Same as --tta flip.") var flip = false
    @Option(help: "Faces per inference call.") var batch = 256
    @Flag(help: "Print the report as JSON.") var json = false

    func run() throws {
        let classifier: EmotionClassifier
        do { classifier = try EmotionClassifier(paths: try Paths.models(model), flipTTA: flip ? true : tta.map(\.flips)) } catch let e as InferenceError { throw RunError("model: \(e)") }
        let t0 = Date()
        let r: FER2013.Report
        do { r = try FER2013.evaluate(csv, usage: usage == "all" ? nil : usage, classifier: classifier, batch: max(1, batch)) } catch let e as FER2013.Error {
            throw RunError("\(e)")
        }
        let secs = Date().timeIntervalSince(t0)
        guard r.samples > 0 else { throw RunError("\(csv): no rows with Usage '\(usage)'") }
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
            return
        }
        print("model     \(Self.describe(classifier))")
        print("data      \(csv) [\(usage)], \(r.samples) faces in \(String(format: "%.1f", secs)) s")
        print(String(format: "accuracy  %.2f %%", r.accuracy * 100))
        print(String(format: "macro-F1  %.4f", r.macroF1))
        if !r.unscored.isEmpty {
            print("unscored  \(r.unscored.joined(separator: ", ")): the model has no such class (\(r.skipped) faces skipped)")
        }
        if !r.unmapped.isEmpty {
            print("unmapped  \(r.unmapped.joined(separator: ", ")): model classes FER2013 has not (a face predicted as one is a miss)")
        }
        print("\nclass      recall  precision  f1      support")
        for l in r.labels {
            let c = r.perClass[l]!
            print(l.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: " %.3f   %.3f      %.3f   %d", c.recall, c.precision, c.f1, c.support))
        }
        print("\nconfusion (rows: true, columns: predicted)")
        print("          " + r.predicted.map { String($0.prefix(7)).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
        for (i, row) in r.confusion.enumerated() {
            print(r.labels[i].padding(toLength: 10, withPad: " ", startingAt: 0) + row.map { String($0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
        }
    }
}

extension Eval {
    /// Each member with its TTA (members keep the TTA they declare unless --tta overrides).
    static func describe(_ c: EmotionClassifier) -> String {
        ([c] + c.others.map(\.member)).map { "\($0.model.path) (TTA: \($0.flipTTA ? "flip" : "none"))" }.joined(separator: " + ")
    }
}
