# Meta-regressions by metafor, the reference for spe meta --moderator (tests/test_meta_regression.py).
#
#   Rscript tests/reference/metafor_regression.R CASES.json > RESULTS.json
#
# CASES.json is a list of cases, each {yi, vi, mods: {name: values}, levels: {name: [level, ...]},
# method: "PM" | "DL", test: "knha" | "adhoc" | "z", at: [{name: value}, ...]}.  A moderator with
# levels is a factor (its first level the reference), any other is numeric; the design is
# built here by R's model.matrix, independently of spe.  Prints one result per case.
#
# metafor finds the Paule-Mandel tau^2 with uniroot at tolerance .Machine$double.eps^0.25
# (about 1e-4 in tau^2) by default; control tol = 1e-12 makes the reference exact to the
# 1e-6 the tests ask, so they compare the definitions, not a stopping rule.
suppressMessages(library(metafor))
suppressMessages(library(jsonlite))

cases <- fromJSON(commandArgs(trailingOnly = TRUE)[1], simplifyVector = FALSE)

frame <- function(mods, levels) {
  data <- lapply(names(mods), function(name) {
    values <- unlist(mods[[name]])
    if (is.null(levels[[name]])) as.numeric(values) else factor(values, levels = unlist(levels[[name]]))
  })
  names(data) <- names(mods)
  as.data.frame(data)
}

results <- lapply(cases, function(case) {
  data <- frame(case$mods, case$levels)
  formula <- as.formula(paste("~", paste(names(case$mods), collapse = " + ")))
  fit <- rma(unlist(case$yi), unlist(case$vi), mods = formula, data = data,
             method = case$method, test = case$test, control = list(tol = 1e-12))
  predictions <- list()
  if (length(case$at) > 0) {
    points <- sapply(names(case$mods), function(n) lapply(case$at, function(p) p[[n]]),
                     simplify = FALSE)
    at <- frame(points, case$levels)
    newmods <- model.matrix(formula, at)[, -1, drop = FALSE]
    pred <- predict(fit, newmods = newmods)
    predictions <- list(pred = pred$pred, se = pred$se, ci_lb = pred$ci.lb, ci_ub = pred$ci.ub)
  }
  list(beta = as.vector(fit$beta), se = fit$se, ci_lb = fit$ci.lb, ci_ub = fit$ci.ub,
       pval = fit$pval, tau2 = fit$tau2, I2 = fit$I2, R2 = fit$R2, QM = fit$QM, QMp = fit$QMp,
       QMdf = fit$QMdf, QE = fit$QE, QEp = fit$QEp, names = rownames(fit$beta),
       predictions = predictions)
})
cat(toJSON(results, digits = NA, auto_unbox = TRUE, null = "null", na = "null"))
