# metafor's own meta-regression example, printed once as the fixed reference
# tests/reference/metafor_bcg.json (tests/test_meta_regression.py checks spe against it without R).
#
#   Rscript tests/reference/metafor_bcg.R > tests/reference/metafor_bcg.json
#
# BCG vaccine trials (dat.bcg, Colditz et al. 1994): log risk ratios by escalc("RR"), absolute
# latitude (ablat) as the moderator, for Paule-Mandel and DerSimonian-Laird tau^2 and the
# Knapp-Hartung (knha), modified Knapp-Hartung (adhoc) and normal (z) tests; predictions at
# ablat 10, 30 and 50.  tol = 1e-12: see metafor_regression.R.
suppressMessages(library(metafor))
suppressMessages(library(jsonlite))

dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
at <- c(10, 30, 50)
fits <- list()
for (method in c("PM", "DL")) {
  for (test in c("knha", "adhoc", "z")) {
    fit <- rma(yi, vi, mods = ~ ablat, data = dat, method = method, test = test,
               control = list(tol = 1e-12))
    pred <- predict(fit, newmods = at)
    fits[[length(fits) + 1]] <- list(
      method = method, test = test, beta = as.vector(fit$beta), se = fit$se, ci_lb = fit$ci.lb,
      ci_ub = fit$ci.ub, pval = fit$pval, tau2 = fit$tau2, I2 = fit$I2, R2 = fit$R2, QM = fit$QM,
      QMp = fit$QMp, QE = fit$QE, QEp = fit$QEp,
      predictions = list(at = at, pred = pred$pred, se = pred$se, ci_lb = pred$ci.lb,
                         ci_ub = pred$ci.ub))
  }
}
cat(toJSON(list(
  source = paste0("metafor ", packageVersion("metafor"), ", ", R.version.string),
  data = list(trial = dat$trial, tpos = dat$tpos, tneg = dat$tneg, cpos = dat$cpos,
              cneg = dat$cneg, ablat = dat$ablat, yi = as.vector(dat$yi), vi = as.vector(dat$vi)),
  fits = fits), digits = NA, auto_unbox = TRUE, pretty = TRUE))
cat("\n")
