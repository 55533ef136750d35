import Foundation

/// Model-level information read from ONNX `metadata_props` (keys written by tools/train/train.py's
/// export). Each key is checked on its own here; how the keys fit the graph (label count = output
/// width, input size and channels = the input shape) is `ModelContract`'s check in Pipeline.
public struct ModelMetadata: Sendable, Equatable {
    /// All metadata_props as read.
    public var properties: [String: String]
    /// Class labels in output order (`labels`, comma separated).
    public var labels: [String]?
    /// Normalisation applied to [0,1] pixels: (x - mean) / std (`mean`, `std`): one value for
    /// every channel, or one per channel in the model's channel order ("0.485,0.456,0.406").
    public var mean: [Float]
    public var std: [Float]
    /// Expected face crop framing: extra margin around the detector box, as a fraction of its size (`crop_margin`).
    public var cropMargin: Float?
    /// `input_size`: "WxH" or one number for a square input; nil when absent.
    public var inputSize: (width: Int, height: Int)?
    /// `color`: gray, rgb or bgr as written (checked against the graph by the contract).
    public var color: String?

    /// Reads and checks the keys emotiond uses. A value that is present but unusable is an error, not
    /// ignored: a NaN mean or a zero std turns every score into NaN, a huge margin crops the wrong face.
    init(_ props: [String: String]) throws {
        properties = props
        labels = props["labels"].map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
        mean = try Self.numbers(props, "mean", in: -1e3...1e3, "a finite number") ?? [0]
        std = try Self.numbers(props, "std", in: Float.leastNormalMagnitude...1e3, "a finite number > 0") ?? [1]
        // Same range the config's model.crop_margin accepts.
        cropMargin = try Self.numbers(props, "crop_margin", in: 0...1, "a fraction in 0...1", list: false)?.first
        inputSize = try Self.size(props)
        color = props["color"].map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }

    public static func == (a: ModelMetadata, b: ModelMetadata) -> Bool { a.properties == b.properties }

    /// One number, or (`list`) comma-separated numbers, each in `range`.
    private static func numbers(_ props: [String: String], _ key: String, in range: ClosedRange<Float>,
                                _ expected: String, list: Bool = true) throws -> [Float]? {
        guard let text = props[key] else { return nil }
        let parts = list ? text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) : [text]
        return try parts.map { part in
            guard let v = Float(part.trimmingCharacters(in: .whitespaces)), v.isFinite, range.contains(v) else {
                throw InferenceError.badModel(detail: "metadata \(key)='\(text)' must be \(expected)\(list ? " (or one per channel, comma separated)" : "")")
            }
            return v
        }
    }

    /// "48x48", "299×299" or "64" (square).
    private static func size(_ props: [String: String]) throws -> (width: Int, height: Int)? {
        guard let text = props["input_size"] else { return nil }
        let parts = text.lowercased().split(whereSeparator: { $0 == "x" || $0 == "×" })
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= 4096 }) else {
            throw InferenceError.badModel(detail: "metadata input_size='\(text)' must be WIDTHxHEIGHT or one size, 1–4096 px")
        }
        return (parts[0]!, parts.last!!)
    }
}

/// Resource limits applied while loading untrusted model files.
public struct ModelLimits: Sendable {
    /// Largest model file accepted, in bytes.
    public var maxFileBytes: Int = 512 << 20
    /// Largest single tensor (constant or activation, at batch 1), in elements.
    public var maxTensorElements: Int = 64 << 20
    /// Largest total of constant elements.
    public var maxConstantElements: Int = 128 << 20
    /// Largest batch accepted by `run`.
    public var maxBatch: Int = 1024
    public init() {}
}

/// A loaded, shape-checked CNN ready to run. Thread-safe: `run` may be called concurrently.
public final class Model: @unchecked Sendable {
    struct Step {
        let layer: Layer
        let inputs: [Int]
        let outputs: [Int]
    }

    public let path: String
    public let inputName: String
    /// Declared input dims; nil for a dynamic dimension (the batch).
    public let inputDims: [Int?]
    public let outputNames: [String]
    public let metadata: ModelMetadata
    public let opsetVersion: Int
    public let producer: String
    public let limits: ModelLimits
    /// Number of weights (constant elements) the graph uses.
    public let parameterCount: Int

    let steps: [Step]
    let slotCount: Int
    let inputSlot: Int
    let outputSlots: [Int]
    let constantSlots: [(Int, Tensor)]
    /// For each step, the slots whose last reader it is (freed afterwards).
    let releaseAfter: [[Int]]
    private var planCache: [Int: [[Int]]] = [:]
    private let lock = NSLock()

    init(path: String, inputName: String, inputDims: [Int?], outputNames: [String], metadata: ModelMetadata,
         opsetVersion: Int, producer: String, limits: ModelLimits, parameterCount: Int,
         steps: [Step], slotCount: Int, inputSlot: Int, outputSlots: [Int], constantSlots: [(Int, Tensor)]) throws {
        self.path = path; self.inputName = inputName; self.inputDims = inputDims; self.outputNames = outputNames
        self.metadata = metadata; self.opsetVersion = opsetVersion; self.producer = producer; self.limits = limits
        self.parameterCount = parameterCount
        self.steps = steps; self.slotCount = slotCount; self.inputSlot = inputSlot
        self.outputSlots = outputSlots; self.constantSlots = constantSlots
        var last = [Int](repeating: -1, count: slotCount)
        for (i, s) in steps.enumerated() { for x in s.inputs { last[x] = i } }
        let keep = Set(outputSlots).union(constantSlots.map(\.0))
        var rel = [[Int]](repeating: [], count: steps.count)
        for (slot, i) in last.enumerated() where i >= 0 && !keep.contains(slot) { rel[i].append(slot) }
        releaseAfter = rel
        // Shape-check the whole graph now, at the declared batch (or 1).
        _ = try plan(batch: inputDims.first.flatMap { $0 } ?? 1)
    }

    /// The input shape for a given batch size.
    public func inputShape(batch: Int) -> [Int] {
        var s = inputDims.map { $0 ?? 1 }
        if !s.isEmpty { s[0] = batch }
        return s
    }

    /// Per-slot shapes for one batch size (inferred and limit-checked once, then cached).
    func plan(batch: Int) throws -> [[Int]] {
        lock.lock(); defer { lock.unlock() }
        if let p = planCache[batch] { return p }
        var shapes = [[Int]](repeating: [], count: slotCount)
        for (s, t) in constantSlots { shapes[s] = t.shape }
        shapes[inputSlot] = inputShape(batch: batch)
        for step in steps {
            let ins = step.inputs.map { shapes[$0] }
            let outs = try step.layer.outputShapes(ins)
            for (k, o) in outs.enumerated() where k < step.outputs.count {
                guard let n = ShapeMath.product(o), n <= min(limits.maxTensorElements * max(1, batch), LayerLimits.maxWorkspace) else {
                    throw InferenceError.tooLarge(what: "output of node '\(step.layer.name)' \(o)", elements: ShapeMath.product(o) ?? Int.max, limit: limits.maxTensorElements)
                }
                shapes[step.outputs[k]] = o
            }
        }
        planCache[batch] = shapes
        return shapes
    }

    /// Output shapes at a batch size (the first output by default).
    public func outputShape(batch: Int = 1, index: Int = 0) throws -> [Int] {
        try plan(batch: batch)[outputSlots[index]]
    }

    /// Multiply-accumulates of one forward pass at batch 1.
    public var macsPerSample: Int {
        guard let shapes = try? plan(batch: 1) else { return 0 }
        return steps.reduce(0) { $0 + $1.layer.macs(inputs: $1.inputs.map { shapes[$0] }, outputs: $1.outputs.map { shapes[$0] }) }
    }

    /// Operator histogram of the executable graph (after folding).
    public var layerSummary: [String: Int] {
        var h: [String: Int] = [:]
        for s in steps { h[String(describing: type(of: s.layer)), default: 0] += 1 }
        return h
    }

    /// Median time per step over `runs` runs (ms), for `bench inference --profile`. A median, not
    /// a mean: on a shared host one stalled run moved a layer's mean by 50 %.
    public func profile(_ input: Tensor, runs: Int, options: InferenceOptions = .default) throws
        -> [(layer: String, kind: String, shape: [Int], ms: Double)] {
        var times = [[Double]](repeating: [], count: steps.count)
        for _ in 0..<runs { _ = try runAll(input, options: options) { i, ns in times[i].append(Double(ns) / 1e6) } }
        let shapes = try plan(batch: input.shape[0])
        return steps.enumerated().map { (i, s) in
            let t = times[i].sorted()
            return (s.layer.name, String(describing: type(of: s.layer)), shapes[s.outputs[0]], t.isEmpty ? 0 : t[t.count / 2])
        }
    }

    /// Runs the model and returns its first output. `options` choose the layers' paths for
    /// this call only (concurrent calls may pass different ones).
    public func run(_ input: Tensor, options: InferenceOptions = .default) throws -> Tensor {
        try runAll(input, options: options)[0]
    }

    /// Runs the model; returns every graph output in declaration order.
    public func runAll(_ input: Tensor, options: InferenceOptions = .default) throws -> [Tensor] {
        try runAll(input, options: options, timing: nil)
    }

    func runAll(_ input: Tensor, options: InferenceOptions, timing: ((Int, UInt64) -> Void)?) throws -> [Tensor] {
        guard input.rank == inputDims.count else { throw InferenceError.wrongInputRank(expected: inputDims.count, got: input.rank) }
        for (i, d) in inputDims.enumerated() where i > 0 {
            if let d, d != input.shape[i] { throw InferenceError.wrongInputShape(expected: inputShape(batch: input.shape[0]), got: input.shape) }
        }
        let batch = input.shape[0]
        guard batch >= 1, batch <= limits.maxBatch else { throw InferenceError.tooLarge(what: "batch", elements: batch, limit: limits.maxBatch) }
        let shapes = try plan(batch: batch)
        var values = [Tensor?](repeating: nil, count: slotCount)
        for (s, t) in constantSlots { values[s] = t }
        values[inputSlot] = input
        for (i, step) in steps.enumerated() {
            var ins = [Tensor]()
            ins.reserveCapacity(step.inputs.count)
            for s in step.inputs {
                // Move (not copy) a value on its last read, so the layer may work in place.
                if releaseAfter[i].contains(s) && step.inputs.lazy.filter({ $0 == s }).count == 1 {
                    ins.append(values[s].take()!)
                } else {
                    ins.append(values[s]!)
                }
            }
            let t0 = timing == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let outs = step.layer.forward(&ins, outputShapes: step.outputs.map { shapes[$0] }, options: options)
            if let timing { timing(i, DispatchTime.now().uptimeNanoseconds - t0) }
            for (k, slot) in step.outputs.enumerated() { values[slot] = outs[k] }
            for s in releaseAfter[i] { values[s] = nil }
        }
        return outputSlots.map { values[$0]! }
    }
}
