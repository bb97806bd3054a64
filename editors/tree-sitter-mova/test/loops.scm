[(loop_statement) (labeled_loop)] @loop
