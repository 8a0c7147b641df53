using System.Collections.Generic;
using System.Linq;

namespace CheckpointGen.Benchmarks;

public static class Statistics
{
    /// <summary>The middle value of <paramref name="values"/> in order (of an even count, the upper of the two middle ones).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var ordered = values.Order().ToList();
        return ordered[ordered.Count / 2];
    }
}
