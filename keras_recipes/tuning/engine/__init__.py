"""The trial engine both tuning products run on: keras-tuner's trials driven by an objective
(`tuner`, `driver`), the live table and `trials.csv` (`recorder`), TensorBoard's HParams
view (`hparams`), chief/worker mode and its fault guard (`cluster`, `faults`), median
pruning (`pruning`), the run folder's claim and resume check (`run_folder`), the
training objective's common part (`objective`) and what a trial reports (`outcome`,
`failures`)."""
