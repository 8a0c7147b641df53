#!/usr/bin/env bash
# The IDE check: a real language server (csharp-ls 0.28.0, installed as a dotnet tool into a folder of its own) opens the
# analyzer tests' user project (tests/CheckpointGen.Analyzers.Tests/UserProject) with CheckpointGen's analyzers and
# generator, and every CKPT diagnostic its '// expect:' comments name must reach the editor over LSP, at its line, with its
# severity and help link, and nothing else; then an edit adds a misuse, which must be flagged live.
#   tests/ide/check-lsp.sh            (under a minute once csharp-ls is installed; not part of 'dotnet test')
# Needs python3; CSHARP_LS_TOOLS says where csharp-ls is (or is installed to), CHECK_LSP_TIMEOUT how long to wait (300 s).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${CSHARP_LS_TOOLS:-${TMPDIR:-/tmp}/checkpointgen-csharp-ls}"
python="${PYTHON:-python3}"

if [ ! -x "$tools/csharp-ls" ]; then
    dotnet tool install --tool-path "$tools" csharp-ls --version 0.28.0 >/dev/null
fi

# The analyzers, generator and runtime, side by side in the test project's output.
dotnet build "$root/tests/CheckpointGen.Analyzers.Tests" -nologo -v:q >/dev/null
bin="$root/tests/CheckpointGen.Analyzers.Tests/bin/Debug/net10.0"
torchsharp="$(sed -n 's/.*Include="TorchSharp" Version="\([^"]*\)".*/\1/p' "$root/Directory.Packages.props")"

project="$(mktemp -d "${TMPDIR:-/tmp}/checkpointgen-ide-XXXXXX")"
trap 'rm -rf "$project"' EXIT
cp "$bin"/UserProject/*.cs "$project/"
cp "$bin/UserProject/editorconfig" "$project/.editorconfig"
cp "$bin/UserProject/UserProject.csproj.in" "$project/UserProject.csproj"
# An editor passes no MSBuild properties: the project gets them from a Directory.Build.props.
cat > "$project/Directory.Build.props" <<PROPS
<Project>
  <PropertyGroup>
    <CheckpointGenBin>$bin</CheckpointGenBin>
    <TorchSharpVersion>$torchsharp</TorchSharpVersion>
  </PropertyGroup>
</Project>
PROPS
dotnet restore "$project/UserProject.csproj" -nologo -v:q >/dev/null

# Two editor sessions: one that asks for diagnostics (textDocument/diagnostic, as VS Code does) and one that only listens
# to what the server publishes (textDocument/publishDiagnostics).
status=0
for mode in pull push; do
    echo "== session with a $mode client"
    "$python" "$root/tests/ide/check-lsp.py" "$tools/csharp-ls" "$project" "$mode" || status=1
done
exit $status
