using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Samples.Nested
{
    public static partial class Models
    {
        internal partial class Outer<TTag>
        {
            public sealed partial class Inner : nn.Module<Tensor, Tensor>
            {
                [Pretrained("weights/inner.safetensors")]
                private readonly Linear encoder;

                private readonly Linear head;

                public Inner() : base(nameof(Inner))
                {
                    encoder = nn.Linear(8, 4);
                    head = nn.Linear(4, 2);
                    RegisterComponents();
                    FreezePretrained();
                }

                public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
            }
        }
    }
}
