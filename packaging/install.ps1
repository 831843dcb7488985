<#
.SYNOPSIS
  Installs the studio for the current user on Windows: the PowerShell twin of packaging/install.sh.

.DESCRIPTION
  powershell -ExecutionPolicy Bypass -File packaging\install.ps1 [WHEEL]     install or upgrade
  powershell -ExecutionPolicy Bypass -File packaging\install.ps1 -Uninstall  remove exactly what it added
  powershell -ExecutionPolicy Bypass -File packaging\install.ps1 -WhichTorch print the torch build, and exit

  Installs into %LOCALAPPDATA%\studio\app (a Python environment with torch, the studio and its dependencies, and
  manifest.txt listing every file placed), a launcher %LOCALAPPDATA%\studio\bin\studio.cmd (that folder is added
  to your user PATH), a Start menu shortcut, and the .studio.json file association (per user, in HKCU), so that
  workflow files open with `studio gui FILE`. Running it again upgrades in place.

  torch: the CUDA build when nvidia-smi reports a driver (the newest build its CUDA version can run), else the
  CPU build (torch==2.13.0; a local wheel from pip's find-links first, so offline machines work).

  Settings (environment): STUDIO_INSTALL_HOME (install under this folder instead of %LOCALAPPDATA%),
  STUDIO_PYTHON (the Python 3.11+ to use; default `py -3.11`, else python), STUDIO_TORCH (cpu or cu128...),
  STUDIO_TORCH_CUDA_BUILDS (default "13.0 12.8 12.6").
#>
param(
  [Parameter(Position = 0)] [string] $Wheel = "",
  [switch] $Uninstall,
  [switch] $WhichTorch
)
$ErrorActionPreference = "Stop"

$TorchVersion = "2.13.0"
$TorchIndex = "https://download.pytorch.org/whl"
$Repo = Split-Path -Parent $PSScriptRoot
$Root = if ($env:STUDIO_INSTALL_HOME) { $env:STUDIO_INSTALL_HOME } else { Join-Path $env:LOCALAPPDATA "studio" }
$AppDir = Join-Path $Root "app"
$Venv = Join-Path $AppDir "venv"
$Manifest = Join-Path $AppDir "manifest.txt"
$BinDir = Join-Path $Root "bin"
$Launcher = Join-Path $BinDir "studio.cmd"
$Shortcut = Join-Path ([Environment]::GetFolderPath("Programs")) "Studio.lnk"
$ProgId = "Studio.Workflow"
$Python = Join-Path $Venv "Scripts\python.exe"

function Say($Text) { Write-Host "studio install: $Text" }

function Get-DriverCudaVersion {
  if (-not (Get-Command nvidia-smi -ErrorAction SilentlyContinue)) { return $null }
  $match = (& nvidia-smi 2>$null | Select-String -Pattern "CUDA Version:\s*(\d+\.\d+)" | Select-Object -First 1)
  if ($match) { return [version]$match.Matches[0].Groups[1].Value } else { return $null }
}

function Get-TorchBuild {
  if ($env:STUDIO_TORCH) { return $env:STUDIO_TORCH }
  $driver = Get-DriverCudaVersion
  if (-not $driver) { return "cpu" }
  $builds = if ($env:STUDIO_TORCH_CUDA_BUILDS) { $env:STUDIO_TORCH_CUDA_BUILDS } else { "13.0 12.8 12.6" }
  foreach ($build in $builds.Split(" ", [StringSplitOptions]::RemoveEmptyEntries)) {
    if ([version]$build -le $driver) { return "cu" + $build.Replace(".", "") }
  }
  return "cpu"
}

function Invoke-Pip { & $Python -m pip @args; if ($LASTEXITCODE) { throw "pip $args failed" } }

function Install-Torch($Build) {
  & $Python -c "import torch" 2>$null
  if ($LASTEXITCODE -eq 0 -and -not $env:STUDIO_TORCH) { Say "keeping the installed torch"; return }
  if ($Build -eq "cpu") {
    Say "installing torch==$TorchVersion (CPU)"
    & $Python -m pip install --no-index "torch==$TorchVersion" 2>$null
    if ($LASTEXITCODE) { Invoke-Pip install "torch==$TorchVersion" --index-url "$TorchIndex/cpu" --extra-index-url https://pypi.org/simple }
  } else {
    Say "installing torch==$TorchVersion ($Build)"
    Invoke-Pip install "torch==$TorchVersion" --index-url "$TorchIndex/$Build" --extra-index-url https://pypi.org/simple
  }
}

function Find-Python {
  if ($env:STUDIO_PYTHON) { return @($env:STUDIO_PYTHON) }
  foreach ($candidate in @(@("py", "-3.11"), @("python"))) {
    if (Get-Command $candidate[0] -ErrorAction SilentlyContinue) {
      & $candidate[0] @($candidate[1..9]) -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>$null
      if ($LASTEXITCODE -eq 0) { return $candidate }
    }
  }
  throw "needs Python 3.11 or newer (set STUDIO_PYTHON to its path)"
}

function Find-Wheel {
  if ($Wheel) { return (Resolve-Path $Wheel).Path }
  $newest = Get-ChildItem (Join-Path $Repo "dist\studio-*.whl") -ErrorAction SilentlyContinue |
    Sort-Object LastWriteTime -Descending | Select-Object -First 1
  if (-not $newest -and (Test-Path (Join-Path $Repo "pyproject.toml"))) {
    Say "no wheel in dist: building one from this checkout"
    Remove-Item -Recurse -Force (Join-Path $Repo "build\lib") -ErrorAction SilentlyContinue
    Invoke-Pip wheel --no-deps -w (Join-Path $Repo "dist") $Repo
    $newest = Get-ChildItem (Join-Path $Repo "dist\studio-*.whl") | Sort-Object LastWriteTime -Descending |
      Select-Object -First 1
  }
  if (-not $newest) { throw "no wheel given and none in dist (build one with: pip wheel --no-deps -w dist .)" }
  return $newest.FullName
}

function Set-UserPath([switch] $Remove) {
  $path = [Environment]::GetEnvironmentVariable("Path", "User")
  $parts = @($path -split ";" | Where-Object { $_ -and $_ -ne $BinDir })
  if (-not $Remove) { $parts += $BinDir }
  [Environment]::SetEnvironmentVariable("Path", ($parts -join ";"), "User")
}

function Install-Studio {
  New-Item -ItemType Directory -Force -Path $AppDir, $BinDir | Out-Null
  if (-not (Test-Path $Python)) {
    $base = Find-Python
    Say "creating the environment in $Venv"
    & $base[0] @($base[1..9]) -m venv $Venv
    Invoke-Pip install --quiet --upgrade pip
  }
  Install-Torch (Get-TorchBuild)
  $file = Find-Wheel
  Say "installing $(Split-Path -Leaf $file)"
  Invoke-Pip install --quiet $file
  Invoke-Pip install --quiet --no-deps --force-reinstall $file

  Set-Content -Path $Launcher -Encoding ASCII -Value "@echo off`r`n`"$Venv\Scripts\studio.exe`" %*"
  $icons = & $Python -c "from studio.paths import ICONS; print(ICONS / 'hicolor' / '256x256' / 'apps')"
  $shell = New-Object -ComObject WScript.Shell
  $link = $shell.CreateShortcut($Shortcut)
  $link.TargetPath = Join-Path $Venv "Scripts\pythonw.exe"
  $link.Arguments = "-m studio.cli gui"
  $link.IconLocation = Join-Path $icons "io.github.studio.Studio.png"
  $link.Save()
  # The file type, per user: *.studio.json opens in the window (pythonw: no console window).
  $command = "`"$(Join-Path $Venv 'Scripts\pythonw.exe')`" -m studio.cli gui `"%1`""
  New-Item -Force -Path "HKCU:\Software\Classes\$ProgId\shell\open\command" -Value $command | Out-Null
  Set-ItemProperty -Path "HKCU:\Software\Classes\$ProgId" -Name "(default)" -Value "Studio workflow"
  New-Item -Force -Path "HKCU:\Software\Classes\.studio.json" -Value $ProgId | Out-Null
  Set-UserPath
  Set-Content -Path $Manifest -Value @("file $Launcher", "file $Shortcut", "key HKCU:\Software\Classes\$ProgId",
    "key HKCU:\Software\Classes\.studio.json", "path $BinDir")
  Say "installed: open a new terminal and run ``studio gui``, or use the Start menu"
}

function Uninstall-Studio {
  if (-not (Test-Path $Manifest)) { throw "nothing to uninstall: no $Manifest" }
  foreach ($line in Get-Content $Manifest) {
    $kind, $target = $line -split " ", 2
    switch ($kind) {
      "file" { Remove-Item -Force $target -ErrorAction SilentlyContinue }
      "key" { Remove-Item -Recurse -Force $target -ErrorAction SilentlyContinue }
      "path" { Set-UserPath -Remove }
    }
  }
  Remove-Item -Recurse -Force $AppDir
  foreach ($dir in @($BinDir, $Root)) {
    if ((Test-Path $dir) -and -not (Get-ChildItem $dir)) { Remove-Item $dir }
  }
  Say "removed the studio (autosaves and settings are kept)"
}

if ($WhichTorch) { Get-TorchBuild } elseif ($Uninstall) { Uninstall-Studio } else { Install-Studio }
