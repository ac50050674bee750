import LDMEngine
import LDMReference

/// The convolutional encoders of `ldm train image`, NHWC in, a representation [N, features] out.
public enum ImageEncoder: String, Sendable, CaseIterable, Codable {
    /// Three 3 × 3 convolutions (stride 1, 2, 2) with ReLU, then global average pooling: the small default.
    case cnn
    /// ResNet-18's shape for small images (a 3 × 3 stem at stride 1, no max pool, as for CIFAR): four stages of two
    /// basic blocks at widths w, 2w, 4w, 8w, strides 1, 2, 2, 2, then global average pooling (8w features).
    case resnet18

    /// The encoder for `channels`-channel images: `widths` are the cnn's three convolutions (default 32, 64, 128) or
    /// the resnet's first width (default 64), `batchNorm` puts BatchNorm after every cnn convolution (the resnet
    /// always has it). `activation` replaces every ReLU (the gradient tests use a smooth one). Returns the network
    /// and its representation width.
    public func make(channels: Int, widths: [Int]?, batchNorm: Bool, activation: Activation = .relu, name: String,
                     on backend: any Backend, generator: inout SeededGenerator) throws -> (network: Sequential, features: Int) {
        switch self {
        case .cnn:
            let w = widths ?? [32, 64, 128]
            guard w.count == 3, w.allSatisfy({ (1...4096).contains($0) }) else {
                throw LDMError.invalidArgument("the cnn encoder takes three widths in 1…4096, got \(w)")
            }
            var modules: [any Module] = []
            for (index, (inputs, outputs)) in zip([channels] + w, w).enumerated() {
                let conv = try Conv2d(inputChannels: inputs, outputChannels: outputs, kernel: 3, stride: index == 0 ? 1 : 2,
                                      padding: 1, bias: !batchNorm, name: "\(name).conv\(index)", on: backend, generator: &generator)
                conv.computesInputGradient = index > 0
                modules.append(conv)
                if batchNorm { modules.append(try BatchNorm(features: outputs, name: "\(name).conv\(index).norm", on: backend)) }
                modules.append(ActivationLayer(activation, on: backend))
            }
            modules.append(GlobalAveragePool(on: backend))
            return (Sequential(modules), w[2])
        case .resnet18:
            let base = widths?.first ?? 64
            guard widths.map({ $0.count == 1 }) ?? true, (1...1024).contains(base) else {
                throw LDMError.invalidArgument("the resnet18 encoder takes one width in 1…1024, got \(widths ?? [])")
            }
            let stem = try Conv2d(inputChannels: channels, outputChannels: base, kernel: 3, padding: 1, bias: false,
                                  name: "\(name).stem", on: backend, generator: &generator)
            stem.computesInputGradient = false
            var modules: [any Module] = [stem, try BatchNorm(features: base, name: "\(name).stem.norm", on: backend),
                                         ActivationLayer(activation, on: backend)]
            var inputs = base
            for (stage, (width, stride)) in zip([base, 2 * base, 4 * base, 8 * base], [1, 2, 2, 2]).enumerated() {
                for block in 0..<2 {
                    modules.append(try Self.basicBlock(inputs: inputs, outputs: width, stride: block == 0 ? stride : 1,
                                                       activation: activation, name: "\(name).layer\(stage + 1).\(block)", on: backend, generator: &generator))
                    inputs = width
                }
            }
            modules.append(GlobalAveragePool(on: backend))
            return (Sequential(modules), 8 * base)
        }
    }

    /// ResNet's basic block: conv 3×3 (stride) → BN → ReLU → conv 3×3 → BN, plus the identity or a 1 × 1
    /// projection → BN when the stride or the width changes, then ReLU.
    static func basicBlock(inputs: Int, outputs: Int, stride: Int, activation: Activation, name: String, on backend: any Backend,
                           generator: inout SeededGenerator) throws -> Residual {
        let main = Sequential([
            try Conv2d(inputChannels: inputs, outputChannels: outputs, kernel: 3, stride: stride, padding: 1, bias: false,
                       name: "\(name).conv1", on: backend, generator: &generator),
            try BatchNorm(features: outputs, name: "\(name).bn1", on: backend), ActivationLayer(activation, on: backend),
            try Conv2d(inputChannels: outputs, outputChannels: outputs, kernel: 3, padding: 1, bias: false,
                       name: "\(name).conv2", on: backend, generator: &generator),
            try BatchNorm(features: outputs, name: "\(name).bn2", on: backend),
        ])
        let shortcut = stride != 1 || inputs != outputs ? Sequential([
            try Conv2d(inputChannels: inputs, outputChannels: outputs, kernel: 1, stride: stride, bias: false,
                       name: "\(name).downsample", on: backend, generator: &generator),
            try BatchNorm(features: outputs, name: "\(name).downsample.norm", on: backend),
        ]) : nil
        return Residual(main: main, shortcut: shortcut, activation: activation, on: backend)
    }
}
