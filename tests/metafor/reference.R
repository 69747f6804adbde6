# Reference numbers for tests/test_meta.py, printed by metafor (R 4.2, metafor 3.8.1):
#   Rscript tests/metafor/reference.R > tests/metafor/reference.txt
# spe meta's --ci hksj-floor is rma(test = "adhoc"), hksj is test = "knha", normal is "z".
# Tolerances tightened so that Paule-Mandel's root is found as closely as spe finds it.
suppressMessages(library(metafor))
cases <- list(
  hetero = list(y = c(0.1, -0.3, 0.5, 1.2), v = c(0.04, 0.09, 0.05, 0.1)),
  homo = list(y = c(0.10, 0.15, 0.05, 0.12), v = c(0.04, 0.09, 0.05, 0.1)),
  pm_overshoot = list(y = c(-0.13, 1.37, -0.67, 0.35), v = c(0.127, 0.083, 0.199, 0.196)),
  agree_by_chance = list(y = c(0.30, 0.31), v = c(0.25, 0.25)),
  # test_meta.py SETTINGS, cell mix 0.5/0.5: deltas and t-based (hksj-floor) variances
  settings_floor = list(y = c(0.04000000000000625, 0.6333333333333258, 0.07499999999998863),
                        v = c(0.02048734575401299, 0.07336372816981468, 0.012667831313501108))
)
cat("case method test b se ci_lb ci_ub pval tau2 QE QEp\n")
for (name in names(cases)) {
  for (method in c("PM", "DL")) {
    for (test in c("adhoc", "knha", "z")) {
      r <- rma(cases[[name]]$y, cases[[name]]$v, method = method, test = test,
               control = list(tol = 1e-14, threshold = 1e-14, maxiter = 1000))
      cat(name, method, test, sprintf("%.12g", c(r$b, r$se, r$ci.lb, r$ci.ub, r$pval, r$tau2,
                                                r$QE, r$QEp)), "\n")
    }
  }
}
