"""Reports on the contract book and the ledger: pricing basis, contract history, documents."""
