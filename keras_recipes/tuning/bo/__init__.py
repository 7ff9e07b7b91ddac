"""`train-with-bo`: bayes_opt's GP with an acquisition function (EI by default) over
log10(learning rate) and log10(weight decay), and keras-tuner's random, grid and Hyperband
searches over the same space (`searches`), with its settings (`config`), space, oracle,
objective, search run, plots and the 1-D toy of the original post; and `BayesOptTuner` and
`BOHBTuner` (`tuner`), the same GP (and bohb) for any keras-tuner hypermodel, whose space
`hp_space` maps to bayes_opt's typed parameters."""
