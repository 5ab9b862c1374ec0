"""What the city edits, as stored: the knowledge base and training examples (`kb_store`),
the service catalogue (`catalogue_store`), the revision counter that tells every process
to rebuild its understanding, and the questions the bot could not answer (`unanswered`)."""
