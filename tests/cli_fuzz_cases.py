"""Bad inputs for every sub-command (issue 14): (command argv, text the error must contain).

``{tmp}`` is a scratch directory holding the damaged files made by ``make_bad_files``;
``{ro}`` is a directory that cannot be written. Each case must fail fast (before any long
computation), with exit status 2, no traceback, and a message naming the flag (the text may
give more: the file and the problem), leaving no file or directory behind.
"""

import numpy as np

CASES = [
    # special
    ("special --n -1 --kappa 1", "--n"),
    ("special --n nan --kappa 1", "--n"),
    ("special --n 3 --kappa -1", "--kappa"),
    ("special --n 3 --kappa inf", "--kappa"),
    ("special --n 3 --kappa abc", "--kappa"),
    ("special --n 1 --kappa 1", "--n"),
    # solve (and the shared problem flags)
    ("solve --beta -1", "--beta"),
    ("solve --beta nan", "--beta"),
    ("solve --beta inf", "--beta"),
    ("solve --p 0", "--p"),
    ("solve --p-star 0", "--p-star"),
    ("solve --classes 0", "--classes"),
    ("solve --overlap 2", "--overlap"),
    ("solve --overlap nan", "--overlap"),
    ("solve --alpha -1", "--alpha"),
    ("solve --alpha nan", "--alpha"),
    ("solve --n 1", "--n"),
    ("solve --n 1.5", "--n"),
    ("solve --b-star -1", "--b-star"),
    ("solve --n 10 --beta-star -5", "--beta-star"),
    ("solve --beta-star 10", "--beta-star"),
    ("solve --tol 0", "--tol"),
    ("solve --tol -1", "--tol"),
    ("solve --tol nan", "--tol"),
    ("solve --tol 0.5", "--tol"),
    ("solve --max-iter 0", "--max-iter"),
    ("solve --seed -1 --init random", "--seed"),
    ("solve --pi 1,2,3", "--pi"),
    ("solve --pi -1,2", "--pi"),
    ("solve --pi a,b", "--pi"),
    ("solve --hierarchy 1,2", "--hierarchy"),
    ("solve --hierarchy 2,2,0.1,7", "--hierarchy"),
    ("solve --gram {tmp}/missing.npy", "--gram"),
    ("solve --gram {tmp}/trunc.npz", "--gram"),
    ("solve --gram {tmp}/pickled.npy", "--gram"),
    ("solve --gram {tmp}/bad.json", "--gram"),
    ("solve --init-from {tmp}/missing.json", "--init-from"),
    ("solve --init-from {tmp}/bad.json", "--init-from"),
    ("solve --init-from {tmp}/nokey.json", "--init-from"),
    ("solve --init-from {tmp}/tampered.json", "--init-from"),
    ("solve --save {ro}/sol.json", "--save"),
    ("solve --save {tmp}", "--save"),
    ("solve --save {tmp}/afile/sol.json", "--save"),
    ("solve --p 10000 --p-star 10000", "--p"),
    ("solve --p 2 --p-star 2 --classes 3 --fixed-p", "--classes"),
    # phase-diagram
    ("phase-diagram --x foo 1:2:3 --y alpha 1:2:2 --out {tmp}/pd", "--x"),
    ("phase-diagram --x beta 1:2:0 --y alpha 1:2:2 --out {tmp}/pd", "--x"),
    ("phase-diagram --x beta abc --y alpha 1:2:2 --out {tmp}/pd", "--x"),
    ("phase-diagram --x beta 1:2:2 --y alpha log:-1:2:2 --out {tmp}/pd", "--y"),
    ("phase-diagram --x beta 1:2:2 --y beta 1:2:2 --out {tmp}/pd", "--y"),
    ("phase-diagram --x beta -1:2:2 --y alpha 1:2:2 --out {tmp}/pd", "--x"),
    ("phase-diagram --x beta 1:2:2 --y alpha 1:2:2 --out {tmp}/pd --workers 0", "--workers"),
    ("phase-diagram --x beta 1:2:2 --y alpha 1:2:2 --out {tmp}/pd --tol 0", "--tol"),
    ("phase-diagram --x beta 1:2:2 --y alpha 1:2:2 --out {ro}/pd", "--out"),
    ("phase-diagram --x beta 1:2:2 --y alpha 1:2:2 --out {tmp}/afile", "--out"),
    ("phase-diagram --x beta 1:2:1000000 --y alpha 1:2:1000000 --out {tmp}/pd", "--x"),
    # sample
    ("sample --n 1 --b-star 1 --m-samples 10 --seed 0 --out {tmp}/s.npz", "--n"),
    ("sample --n 10 --b-star 1 --m-samples -1 --seed 0 --out {tmp}/s.npz", "--m-samples"),
    ("sample --n 10 --b-star 1 --m-samples 10 --seed -1 --out {tmp}/s.npz", "--seed"),
    ("sample --n 10 --b-star 1 --m-samples 10 --seed 0 --out {tmp}", "--out"),
    ("sample --n 10 --b-star 1 --m-samples 10 --seed 0 --out {ro}/s.npz", "--out"),
    ("sample --n 10 --beta-star -1 --m-samples 10 --seed 0 --out {tmp}/s.npz", "--beta-star"),
    ("sample --n 10 --b-star nan --m-samples 10 --seed 0 --out {tmp}/s.npz", "--b-star"),
    ("sample --n 10 --b-star 1 --classes 0 --m-samples 10 --seed 0 --out {tmp}/s.npz", "--classes"),
    ("sample --n 10 --b-star 1 --soft -1 --m-samples 10 --seed 0 --out {tmp}/s.npz", "--soft"),
    ("sample --n 10 --b-star 1 --overlap 2 --m-samples 10 --seed 0 --out {tmp}/s.npz", "--overlap"),
    ("sample --n 10 --b-star 1 --p-star 0 --m-samples 10 --seed 0 --out {tmp}/s.npz", "--p-star"),
    ("sample --n 10 --b-star 1 --m-samples 100000000000 --seed 0 --out {tmp}/s.npz", "--m-samples"),
    ("sample --n 10 --b-star 1 --gram {tmp}/trunc.npz --m-samples 10 --seed 0 --out {tmp}/s.npz", "--gram"),
    # simulate
    ("simulate --n inf", "--n"),
    ("simulate --seeds 0", "--seeds"),
    ("simulate --seed -1", "--seed"),
    ("simulate --sweeps 0", "--sweeps"),
    ("simulate --burn-in -1", "--burn-in"),
    ("simulate --sweeps 100 --burn-in 100", "--burn-in"),
    ("simulate --method em --max-epochs 0", "--max-epochs"),
    ("simulate --method em --tol -1", "--tol"),
    ("simulate --method gd --lr -1", "--lr"),
    ("simulate --method sgd --batch-size 0", "--batch-size"),
    ("simulate --m-samples 0", "--m-samples"),
    ("simulate --save {ro}/sim.npz", "--save"),
    ("simulate --save {tmp}", "--save"),
    ("simulate --n 1000000000", "--n"),
    ("simulate --m-samples 1000000000000", "--m-samples"),
    # compare
    ("compare --power -1 --n-list 10,20", "--power"),
    ("compare --power 0 --n-list 10,20", "--power"),
    ("compare --power nan --n-list 10,20", "--power"),
    ("compare --n-list 1,2", "--n-list"),
    ("compare --n-list a,b", "--n-list"),
    ("compare --csv {ro}/c.csv", "--csv"),
    ("compare --plot {ro}/c.png", "--plot"),
    ("compare --save {tmp}", "--save"),
    ("compare --seeds 0", "--seeds"),
    ("compare --m-samples 10", "--m-samples"),
    ("compare --alpha inf --method em", "--m-factor"),
    ("compare --alpha inf --method em --m-factor -1", "--m-factor"),
    # hierarchy
    ("hierarchy --n-grid 1", "--n-grid"),
    ("hierarchy --beta-min -1", "--beta-min"),
    ("hierarchy --beta-max 0", "--beta-max"),
    ("hierarchy --beta-min 5 --beta-max 1", "--beta-max"),
    ("hierarchy --alpha 3", "--alpha"),
    ("hierarchy --init-from {tmp}/missing.json", "--init-from"),
    ("hierarchy --init-from {tmp}/nokey.json", "--init-from"),
    # within
    ("within --p 0 --tau 1", "--p"),
    ("within --p 2 --tau -1", "--tau"),
    ("within --p 2 --tau nan", "--tau"),
    ("within --p 2 --tau 1 --dim 0", "--dim"),
    ("within --p 2 --tau 1 --amplitude -1", "--amplitude"),
    ("within --p 2 --tau 1 --amplitude nan", "--amplitude"),
    ("within --p 2 --tau 1 --pi a,b", "--pi"),
    ("within --p 3 --tau 1 --pi 1,2", "--pi"),
    ("within --p 2 --tau 1 --n 10", "--b-star"),
    ("within --p 2 --tau 1 --n -10 --b-star 1", "--n"),
    ("within --p 2 --tau 1 --n 10 --b-star -1", "--b-star"),
    ("within --p 2000 --tau 2", "--p"),
    ("within --p 3 --tau 1e6", "--tau 1e+06 is above 100000"),
    # study (fails before loading data)
    ("study accuracy --max-epochs 0 --out {tmp}/st", "--max-epochs"),
    ("study accuracy --p 0 --out {tmp}/st", "--p"),
    ("study accuracy --seeds , --out {tmp}/st", "--seeds"),
    ("study accuracy --seeds a --out {tmp}/st", "--seeds"),
    ("study accuracy --seeds -1 --out {tmp}/st", "--seeds"),
    ("study accuracy --betas a --out {tmp}/st", "--betas"),
    ("study accuracy --betas -1 --out {tmp}/st", "--betas"),
    ("study accuracy --varsigmas 2 --out {tmp}/st", "--varsigmas"),
    ("study accuracy --out {ro}/st", "--out"),
    ("study cost --p-max-list a --out {tmp}/st", "--p-max-list"),
    ("study cost --p0 0 --out {tmp}/st", "--p0"),
    ("study cost --beta -1 --out {tmp}/st", "--beta"),
    ("study cost --p-max-list 24 --out {tmp}/st", "--p-max-list"),
    ("study cost --max-train 0 --out {tmp}/st", "--max-train"),
    # train (fails before training)
    ("train --p 0 --out {tmp}/tr", "--p"),
    ("train --beta -1 --out {tmp}/tr", "--beta"),
    ("train --varsigma 2 --out {tmp}/tr", "--varsigma"),
    ("train --upsilon -1 --out {tmp}/tr", "--upsilon"),
    ("train --max-epochs 0 --out {tmp}/tr", "--max-epochs"),
    ("train --tol -1 --out {tmp}/tr", "--tol"),
    ("train --lr -1 --method gd --out {tmp}/tr", "--lr"),
    ("train --batch-size 0 --method sgd --out {tmp}/tr", "--batch-size"),
    ("train --data foo --out {tmp}/tr", "--data"),
    ("train --data idx:{tmp}/missing --out {tmp}/tr", "--data"),
    # a data file of the wrong shape or content: the error names --data, the file and the problem
    ("train --data npz:{tmp}/onecol.npz --out {tmp}/tr", "--data: {tmp}/onecol.npz: array 'X' has shape (12, 1)"),
    ("train --data npz:{tmp}/cube.npz --out {tmp}/tr", "--data: {tmp}/cube.npz: array 'X' has shape (12, 2, 2, 2)"),
    ("train --data npz:{tmp}/shortlabels.npz --out {tmp}/tr", "--data: {tmp}/shortlabels.npz: array 'y' has shape (5,)"),
    ("train --data npz:{tmp}/nolabels.npz --out {tmp}/tr", "--data: {tmp}/nolabels.npz must hold arrays X and y"),
    ("train --data npz:{tmp}/testwidth.npz --out {tmp}/tr", "--data: {tmp}/testwidth.npz: array 'x_test' has 3"),
    ("train --data npz:{tmp}/notzip.npz --out {tmp}/tr", "--data: {tmp}/notzip.npz: not a .npz archive"),
    ("train --data npz:{tmp}/objects.npz --out {tmp}/tr", "--data: {tmp}/objects.npz: unreadable .npz archive"),
    ("train --data npz:{tmp}/trunc.npz --out {tmp}/tr", "--data: {tmp}/trunc.npz:"),
    ("train --data npz:{tmp}/missing.npz --out {tmp}/tr", "--data: no such .npz file"),
    ("train --protocol paper-unsupervised --data npz:{tmp}/onecol.npz --out {tmp}/tr", "--data: {tmp}/onecol.npz"),
    ("train --data patches:2:1:npz:{tmp}/onecol.npz --out {tmp}/tr", "--data: {tmp}/onecol.npz"),
    ("train --fixed-beta --out {tmp}/tr", "--fixed-beta"),
    ("train --protocol paper-unsupervised --grow splitting --out {tmp}/tr", "--grow"),
    ("paper --data npz:{tmp}/onecol.npz --out {tmp}/pp", "--data: {tmp}/onecol.npz"),
    ("train --test-fraction 2 --out {tmp}/tr", "--test-fraction"),
    ("train --seed -1 --out {tmp}/tr", "--seed"),
    ("train --max-train 0 --out {tmp}/tr", "--max-train"),
    ("train --p-max 10 --out {tmp}/tr", "--p-max"),
    ("train --grow splitting --out {tmp}/tr", "--p-max"),
    ("train --eps -1 --out {tmp}/tr", "--eps"),
    ("train --out {ro}/tr", "--out"),
    ("train --out {tmp}/afile", "--out"),
    ("train --out {tmp}/existing", "--overwrite"),
    ("train --checkpoint {ro}/ck.npz --out {tmp}/tr", "--checkpoint"),
    # figures
    ("figures --only nosuchfigure --out {tmp}/figs", "--only"),
    ("figures --out {ro}/figs", "--out"),
]


def make_bad_files(tmp):
    """Damaged inputs: truncated .npz, pickled .npy, invalid JSON, a Solution without keys,
    a tampered Solution (converged with residual 1000), a plain file, an existing train
    output directory."""
    np.savez(tmp / "good.npz", gram=np.eye(2))
    data = (tmp / "good.npz").read_bytes()
    (tmp / "trunc.npz").write_bytes(data[: len(data) // 2])
    np.save(tmp / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp / "bad.json").write_text('{"a": 1')
    (tmp / "nokey.json").write_text('{"problem": {"gram": [[1.0]], "P": 1}}')
    (tmp / "afile").write_text("not a directory\n")
    (tmp / "existing").mkdir()
    (tmp / "existing" / "report.json").write_text("{}\n")
    # data files (npz:FILE) of the wrong shape or content
    rng = np.random.default_rng(0)
    np.savez(tmp / "onecol.npz", X=rng.standard_normal((12, 1)), y=np.arange(12) % 2)
    np.savez(tmp / "cube.npz", X=rng.standard_normal((12, 2, 2, 2)), y=np.arange(12) % 2)
    np.savez(tmp / "shortlabels.npz", X=rng.standard_normal((12, 4)), y=np.arange(5) % 2)
    np.savez(tmp / "nolabels.npz", X=rng.standard_normal((12, 4)))
    np.savez(tmp / "testwidth.npz", x_train=rng.standard_normal((12, 4)), y_train=np.arange(12) % 2,
             x_test=rng.standard_normal((4, 3)), y_test=np.arange(4) % 2)
    (tmp / "notzip.npz").write_bytes(b"not an archive\n")
    np.savez(tmp / "objects.npz", X=np.array([{"a": 1}] * 12, dtype=object), y=np.arange(12) % 2)
