using System;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>
/// Pretrained parts for test models that have no source: the same weights in every instance, as weights read from one
/// source would be, so that checkpoints move between instances. The random state of the test is left as it was.
/// </summary>
public static class StandInWeights
{
    public static T Create<T>(Func<T> create)
    {
        using var state = get_rng_state();
        try
        {
            manual_seed(20261130);
            return create();
        }
        finally
        {
            set_rng_state(state);
        }
    }
}
