"""spe: does a fixed mix of global max and min pooling match or beat average pooling
inside channel attention?  Layers, from the inside out: pooling -> attention -> models ->
data -> training -> sweep -> stats -> plots; the command line (``spe_analysis.cli``) sits on
top and is the only part that imports Typer or Rich."""

__version__ = "0.1.0"
