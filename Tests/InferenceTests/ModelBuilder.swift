import Foundation
import ONNXProto
@testable import Inference

/// Builds small ONNX models in memory with the generated protobuf types.
struct ModelBuilder {
    var model = Onnx_ModelProto()
    var opset: Int64 = 13

    init(opset: Int64 = 13) {
        self.opset = opset
        model.irVersion = 8
        model.producerName = "emotiond-tests"
        var o = Onnx_OperatorSetIdProto(); o.domain = ""; o.version = opset
        model.opsetImport = [o]
        model.graph.name = "test"
    }

    mutating func input(_ name: String, _ dims: [Int64?]) {
        var v = Onnx_ValueInfoProto(); v.name = name
        var t = Onnx_TypeProto.Tensor(); t.elemType = 1
        t.shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = d } else { dim.dimParam = "batch" }
            return dim
        }
        v.type.tensorType = t
        model.graph.input.append(v)
    }

    mutating func output(_ name: String) {
        var v = Onnx_ValueInfoProto(); v.name = name
        model.graph.output.append(v)
    }

    mutating func initializer(_ name: String, _ dims: [Int64], _ values: [Float]? = nil, seed: Int = 1) {
        var t = Onnx_TensorProto(); t.name = name; t.dims = dims; t.dataType = 1
        t.floatData = values ?? Self.values(Int(dims.reduce(1, *)), seed: seed)
        model.graph.initializer.append(t)
    }

    /// `count` pseudo-random values in [-0.5, 0.5], the same for the same seed.
    static func values(_ count: Int, seed: Int) -> [Float] {
        var s = UInt64(seed)
        return (0..<count).map { _ in s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(Int(s >> 40) % 2001 - 1000) / 2000 }
    }

    mutating func intInitializer(_ name: String, _ values: [Int64]) {
        var t = Onnx_TensorProto(); t.name = name; t.dims = [Int64(values.count)]; t.dataType = 7; t.int64Data = values
        model.graph.initializer.append(t)
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil, ints: [String: [Int64]] = [:], int: [String: Int64] = [:], float: [String: Float] = [:], string: [String: String] = [:]) {
        var n = Onnx_NodeProto(); n.opType = op; n.input = inputs; n.output = outputs; n.name = name ?? "\(op.lowercased())\(model.graph.node.count)"
        for (k, v) in ints { var a = Onnx_AttributeProto(); a.name = k; a.type = .ints; a.ints = v; n.attribute.append(a) }
        for (k, v) in int { var a = Onnx_AttributeProto(); a.name = k; a.type = .int; a.i = v; n.attribute.append(a) }
        for (k, v) in float { var a = Onnx_AttributeProto(); a.name = k; a.type = .float; a.f = v; n.attribute.append(a) }
        for (k, v) in string { var a = Onnx_AttributeProto(); a.name = k; a.type = .string; a.s = Data(v.utf8); n.attribute.append(a) }
        model.graph.node.append(n)
    }

    func data() throws -> Data { try model.serializedData() }

    /// A tiny but complete CNN: Conv-BN-Relu, MaxPool, Conv(depthwise), Add, GAP, Flatten, Gemm, Softmax.
    static func tinyCNN() -> ModelBuilder {
        var b = ModelBuilder()
        b.input("x", [nil, 1, 12, 12])
        b.initializer("w1", [4, 1, 3, 3]); b.initializer("b1", [4])
        b.initializer("g", [4], [1, 0.5, 2, 1]); b.initializer("beta", [4], [0, 0.1, -0.1, 0.2])
        b.initializer("mu", [4], [0.1, 0, -0.2, 0.3]); b.initializer("var", [4], [1, 2, 0.5, 1])
        b.initializer("wd", [4, 1, 3, 3], seed: 7)
        b.initializer("wf", [7, 4], seed: 3); b.initializer("bf", [7])
        b.node("Conv", ["x", "w1", "b1"], ["c1"], name: "conv1", ints: ["pads": [1, 1, 1, 1]])
        b.node("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["bn1"], name: "bn1")
        b.node("Relu", ["bn1"], ["r1"], name: "relu1")
        b.node("MaxPool", ["r1"], ["p1"], name: "pool1", ints: ["kernel_shape": [2, 2], "strides": [2, 2]])
        b.node("Conv", ["p1", "wd"], ["d1"], name: "dw", ints: ["pads": [1, 1, 1, 1]], int: ["group": 4])
        b.node("Add", ["d1", "p1"], ["a1"], name: "add")
        b.node("GlobalAveragePool", ["a1"], ["gap"], name: "gap")
        b.node("Flatten", ["gap"], ["flat"], name: "flatten")
        b.node("Gemm", ["flat", "wf", "bf"], ["logits"], name: "fc", int: ["transB": 1])
        b.node("Softmax", ["logits"], ["probs"], name: "softmax", int: ["axis": 1])
        b.output("probs")
        return b
    }
}
