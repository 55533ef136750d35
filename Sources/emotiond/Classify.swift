import ArgumentParser
import Capture
import EmotionCore
import Foundation
import Imaging
import Inference
import Pipeline

/// `emotiond classify`: emotion scores for face images that are already cropped
/// (e.g. 48×48 FER2013-style faces). Whole-frame images with face detection are `emotiond image`.
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify pre-cropped face images (one JSON line per image).")

    @Option(help: "ONNX emotion model (default: models/\(Paths.defaultModelName)); repeat for an ensemble (probabilities averaged).") var model: [String] = []
    @Option(help: "Test-time augmentation: none or flip (default: what the model's metadata declares).")
    var tta: TTA?
    @Flag(help: "Same as --tta flip.") var flip = false
    @Argument(help: "Face image files (any size; converted to the model's colour and resized to its input).") var images: [String]

    func run() throws {
        let classifier: EmotionClassifier
        do { classifier = try EmotionClassifier(paths: try Paths.models(model), flipTTA: flip ? true : tta.map(\.flips)) } catch let e as InferenceError {
            throw RunError("model: \(e)")
        }
        var crops: [[UInt8]] = [], names: [String] = []
        var failures = 0
        for path in images {
            do {
                let colour = classifier.contract.color != .gray
                let f = try ImageFile.load(path, format: colour ? .bgr8 : .gray8)
                    .resized(width: classifier.inputWidth, height: classifier.inputHeight)
                crops.append(f.pixels); names.append(path)
            } catch {
                logger.error("emotiond: \(error)")
                failures += 1
            }
        }
        let scores = try classifier.classify(crops)
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
        for (name, s) in zip(names, scores) {
            struct Out: Encodable { let file: String; let label: String; let confidence: Float; let scores: [String: Float] }
            let top = s.top
            let out = Out(file: name, label: top.label.name, confidence: top.confidence, scores: s.byName)
            print(String(decoding: try enc.encode(out), as: UTF8.self))
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
