import ArgumentParser
import Foundation
import Inference
import Pipeline

/// `emotiond schemas`: the exact JSON Schemas of the outputs for one model. Labels and score keys
/// are the model's, so one fixed file cannot be exact for every model; an open map ("any string
/// key, a number") would accept a misspelt or missing class. Instead the shipped schemas (written
/// for the shipped model) are the templates and this command writes copies whose label enum and
/// score keys are the given model's: the same checks, exact for that model.
struct SchemasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schemas",
        abstract: "Write the exact output schemas (frame, event, state) for a model's labels.")

    @Option(help: "ONNX emotion model (default: the shipped model).") var model: String?
    @Option(help: "Directory to write frame.schema.json, event.schema.json and state.schema.json to.") var out: String
    @Option(help: "Directory of the shipped schemas used as templates (default: schemas/ under the data roots).")
    var templates: String?

    static let names = ["frame", "event", "state"]

    func run() throws {
        let path = try Paths.model(model)
        let classifier: EmotionClassifier
        do { classifier = try EmotionClassifier(path: path, flipTTA: false) } catch let e as InferenceError { throw RunError("model: \(e)") }
        let dir = try templates ?? Self.templateDir()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for name in Self.names {
            let file = "\(dir)/\(name).schema.json"
            guard let data = FileManager.default.contents(atPath: file),
                  let template = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw RunError("cannot read the schema template \(file)")
            }
            let schema = Self.specialise(template, labels: classifier.labels.names, model: path)
            let text = try JSONSerialization.data(withJSONObject: schema, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try (text + Data("\n".utf8)).write(to: URL(fileURLWithPath: "\(out)/\(name).schema.json"), options: .atomic)
        }
        print("wrote \(Self.names.map { "\(out)/\($0).schema.json" }.joined(separator: ", ")) for labels \(classifier.labels)")
    }

    static func templateDir() throws -> String {
        let tried = Paths.dataRoots.map { "\($0)/schemas" }
        guard let dir = tried.first(where: { FileManager.default.fileExists(atPath: "\($0)/frame.schema.json") }) else {
            throw RunError("no schema templates found; tried \(tried.joined(separator: ", ")) (use --templates DIR)")
        }
        return dir
    }

    /// The template with `$defs.label` = the labels and `$defs.scores` requiring exactly them
    /// (each score as the template's first score property is: a probability).
    static func specialise(_ template: [String: Any], labels: [String], model: String) -> [String: Any] {
        var schema = template
        var defs = schema["$defs"] as? [String: Any] ?? [:]
        defs["label"] = ["enum": labels]
        if var scores = defs["scores"] as? [String: Any] {
            let probability = (scores["properties"] as? [String: Any])?.values.first ?? ["type": "number", "minimum": 0, "maximum": 1]
            scores["required"] = labels
            scores["properties"] = Dictionary(uniqueKeysWithValues: labels.map { ($0, probability) })
            defs["scores"] = scores
        }
        schema["$defs"] = defs
        schema["$comment"] = "Written by emotiond schemas for \(URL(fileURLWithPath: model).lastPathComponent) (labels: \(labels.joined(separator: ",")))."
        return schema
    }
}
