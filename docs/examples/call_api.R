# Calls a Gatehouse API with an API token, with httr2.
#
#   Sys.setenv(GATEHOUSE_URL = "https://gatehouse.example.org")   # or in ~/.Renviron
#   Sys.setenv(GATEHOUSE_TOKEN = "gh_...")                          # from /tokens; better: keyring
#   Rscript call_api.R renku/user
library(httr2)

hints <- c(
  invalid_token = "the token is unknown, revoked or expired: create a new one at /tokens",
  session_expired = "the token's sign-in at the identity provider has ended: create a new one at /tokens",
  token_scope = "the token may not do this (other API or a write with a read-only token)"
)

gatehouse_api <- function(path, method = "GET", body = NULL) {
  base_url <- sub("/+$", "", Sys.getenv("GATEHOUSE_URL", "http://localhost:3000"))
  token <- Sys.getenv("GATEHOUSE_TOKEN")
  if (token == "") stop("set GATEHOUSE_TOKEN (create one at ", base_url, "/tokens)")
  req <- request(paste0(base_url, "/api/", sub("^/+", "", path))) |>
    req_auth_bearer_token(token) |>
    req_method(method) |>
    req_error(body = function(resp) {
      code <- tryCatch(resp_body_json(resp)$error, error = function(e) NULL)
      if (!is.null(code) && code %in% names(hints)) hints[[code]] else NULL
    })
  if (!is.null(body)) req <- req_body_json(req, body)
  resp_body_json(req_perform(req))
}

if (!interactive()) {
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) != 1) stop("usage: Rscript call_api.R <name>/<path>, e.g. renku/user")
  str(gatehouse_api(args[[1]]))
}
