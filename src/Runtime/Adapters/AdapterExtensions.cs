using System;
using System.Collections.Generic;
using CheckpointGen.Adapters;

namespace CheckpointGen;

/// <summary>
/// A model's LoRA adapters (see <see cref="Lora"/>) in Hugging Face PEFT's folder layout, both ways:
/// <c>model.SaveAdapters(directory)</c> writes what PEFT's <c>save_pretrained</c> writes, and
/// <c>model.LoadAdapters(directory)</c> reads what it wrote.
/// </summary>
public static class AdapterExtensions
{
    /// <summary>
    /// Writes the model's LoRA adapters as PEFT does: <c>adapter_model.safetensors</c>, with the keys
    /// <c>base_model.model.&lt;path&gt;.lora_A.weight</c> and <c>.lora_B.weight</c> (paths relative to the model), and
    /// <c>adapter_config.json</c> (<c>peft_type</c> <c>"LORA"</c>, <c>r</c>, <c>lora_alpha</c>, <c>lora_dropout</c>,
    /// <c>target_modules</c>, ...). Each file is replaced atomically; the folder is created when missing.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model has no LoRA adapters, or adapters whose dropouts differ (PEFT's config has one).</exception>
    public static void SaveAdapters(this ICheckpointable model, string directory) => PeftFiles.Save(Policy(model), directory);

    /// <summary>
    /// Loads a PEFT adapter folder (<c>adapter_config.json</c> with <c>adapter_model.safetensors</c>, or PEFT's older
    /// <c>adapter_model.bin</c>), as written by PEFT's <c>save_pretrained</c> or by <see cref="SaveAdapters"/>. A model with
    /// LoRA adapters must have exactly the ones the config describes (layers, <c>r</c>, <c>lora_alpha</c>,
    /// <c>lora_dropout</c>); a model with none gets them injected as the config says, as PEFT's <c>from_pretrained</c>
    /// does. Every adapter's two tensors must be in the file with their shapes and dtypes, and nothing else. Everything is
    /// checked and read before the model changes: on any exception it is exactly as it was.
    /// </summary>
    /// <returns>The paths of the layers whose adapters were loaded, relative to the model.</returns>
    /// <exception cref="CheckpointFormatException">The config or the weights file is not valid, or describes an adapter CheckpointGen does not compute.</exception>
    /// <exception cref="CheckpointMismatchException">The folder does not fit the model; every problem is named.</exception>
    public static IReadOnlyList<string> LoadAdapters(this ICheckpointable model, string directory) => PeftFiles.Load(Policy(model), directory);

    private static CheckpointPolicy Policy(ICheckpointable model) => (model ?? throw new ArgumentNullException(nameof(model))).CheckpointPolicy;
}
