import './base.css';
import './sweep.css';
import './compare.css';
import './try-expert.css';
