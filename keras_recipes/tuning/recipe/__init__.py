"""`keras-recipes tune`: keras-tuner's random, Bayesian and Hyperband oracles over the recipe
space (activation, init, batch norm, optimizer, schedule, dropout; learning rate, weight
decay, momentum), with its settings (`config`), space, objective and search run."""
