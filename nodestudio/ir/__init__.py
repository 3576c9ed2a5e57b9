"""The symbolic IR: variables and applications of registry ops, autodiff, fusion, reference."""
